//! The JSON Schema of scenario files (`klpcheck schema`, committed as
//! specs/schema.json): the scenario language's types (generated from
//! `klp_model::spec` by schemars) plus what the loader checks beyond the
//! types and a JSON Schema can say: the spec version, the profile, variant
//! and property names, and the bounds of the model (tasks, call depth,
//! insmods, patches, objects, functions, shadow variables, system
//! modifications). What a schema cannot say, that a name used in one place
//! is declared in another (a function under `objects`, a shadow variable
//! under `shadow_vars`), only the loader checks; the test
//! `schema_and_loader_agree` lists those cases.

use klp_model::properties::PROPERTIES;
use klp_model::scenario::{
    MAX_DEPTH, MAX_FUNCS, MAX_LOADS, MAX_OBJECTS, MAX_PATCHES, MAX_SHADOW_VARS, MAX_SYSMODS,
    MAX_TASKS,
};
use klp_model::{Profile, Variant};
use serde_json::{json, Value};

/// The schema, as a JSON value.
pub fn schema() -> Value {
    let mut s: Value =
        serde_json::from_str(&klp_model::spec::schema_json()).expect("the model's schema is JSON");
    let profiles: Vec<&str> = Profile::ALL.iter().map(|p| p.name()).collect();
    let variants: Vec<&str> = Variant::ALL.iter().map(|v| v.name()).collect();
    let ids: Vec<&str> = PROPERTIES.iter().map(|p| p.id).collect();
    let props = &mut s["properties"];
    props["spec_version"]["const"] = json!(klp_model::spec::SPEC_VERSION);
    props["profile"]["enum"] = json!(with_null(&profiles));
    props["variant"]["enum"] = json!(with_null(&variants));
    props["expect"]["propertyNames"] = json!({"enum": ids});
    props["expect_by_profile"]["propertyNames"] = json!({"enum": profiles});
    props["expect_by_profile"]["additionalProperties"]["propertyNames"] = json!({"enum": ids});
    props["patches"]["minProperties"] = json!(1);
    props["patches"]["maxProperties"] = json!(MAX_PATCHES);
    props["objects"]["maxProperties"] = json!(MAX_OBJECTS);
    props["objects"]["propertyNames"] = json!({"minLength": 1});
    // vmlinux is always loaded and logs no init/exit.
    props["objects"]["properties"] = json!({"vmlinux": {"allOf": [
        {"$ref": "#/definitions/ObjectSpec"},
        {"properties": {"loaded": {"const": false}, "logs": {"const": false}}}
    ]}});
    props["shadow_vars"]["maxProperties"] = json!(MAX_SHADOW_VARS);
    props["system_modifications"]["maxItems"] = json!(MAX_SYSMODS);
    props["system_modifications"]["uniqueItems"] = json!(true);
    props["plans"]["maxProperties"] = json!(klp_model::plan::MAX_PLANS);
    props["plans"]["propertyNames"] = json!({
        "pattern": "^[A-Za-z0-9_-]+$",
        "maxLength": klp_model::names::MAX_IDENT
    });
    props["plans"]["additionalProperties"]["maxItems"] = json!(klp_model::plan::MAX_PLAN_STEPS);
    // A search needs a task; a scripted scenario drives its own.
    s["if"] = json!({"not": {"required": ["script"]}});
    s["then"] = json!({"properties": {"tasks": {"properties": {"count": {"minimum": 1}}}}});
    let defs = &mut s["definitions"];
    let tasks = &mut defs["TasksSpec"]["properties"];
    tasks["count"]["maximum"] = json!(MAX_TASKS);
    tasks["max_depth"]["minimum"] = json!(1);
    tasks["max_depth"]["maximum"] = json!(MAX_DEPTH);
    defs["AdminSpec"]["properties"]["insmod"]["additionalProperties"]["maximum"] = json!(MAX_LOADS);
    defs["PlanEnabledArgs"]["properties"]["value"]["maximum"] = json!(1);
    defs["ObjectSpec"]["properties"]["funcs"]["maxItems"] = json!(MAX_FUNCS);
    defs["ObjectSpec"]["properties"]["funcs"]["uniqueItems"] = json!(true);
    // klp_enable_patch returns -EINVAL for a patch without objects.
    defs["PatchSpec"]["properties"]["objects"]["minProperties"] = json!(1);
    defs["PatchSpec"]["required"] = json!(["objects"]);
    s
}

fn with_null(names: &[&str]) -> Vec<Value> {
    names
        .iter()
        .map(|n| json!(n))
        .chain(std::iter::once(Value::Null))
        .collect()
}

/// The schema as `klpcheck schema` prints it.
pub fn schema_text() -> String {
    serde_json::to_string_pretty(&schema()).expect("schema serializes") + "\n"
}
