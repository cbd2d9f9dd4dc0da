//! The importer on small C sources and klp-build patches written for these
//! tests: what each construct becomes in the scenario.

use std::path::PathBuf;

use klp_import::{import, Options};
use klp_model::spec::{ErrnoSpec, Spec};

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn one(name: &str, text: &str) -> (Spec, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, name, text);
    let i = import(&[p], &Options::default()).unwrap_or_else(|e| panic!("{e}"));
    klp_model::scenario::Scenario::compile(&i.spec, "t").expect("the import compiles");
    (i.spec, i.notes.iter().map(|n| n.to_string()).collect())
}

fn err(name: &str, text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, name, text);
    match import(&[p], &Options::default()) {
        Ok(_) => panic!("expected an error"),
        Err(e) => {
            let s = e.to_string();
            // file:line:col: error: ...
            let rest = s.split_once(name).expect("the message names the file").1;
            assert!(rest.starts_with(':'), "{s}");
            s
        }
    }
}

const HEAD: &str = "#include <linux/module.h>\n#include <linux/livepatch.h>\n";

const TAIL: &str = "
static struct klp_patch patch = { .mod = THIS_MODULE, .objs = objs, };
static int lp_init(void) { return klp_enable_patch(&patch); }
static void lp_exit(void) { }
module_init(lp_init);
module_exit(lp_exit);
MODULE_LICENSE(\"GPL\");
MODULE_INFO(livepatch, \"Y\");
";

#[test]
fn funcs_objects_and_conditional_names() {
    let src = format!(
        "{HEAD}
#if defined(CONFIG_ARCH_HAS_SYSCALL_WRAPPER)
#define PFX __x64_
#else
#define PFX
#endif
static long new_getpid(void) {{ return 0; }}
static int new_show(void *m) {{ return 0; }}
static struct klp_func vfuncs[] = {{
\t{{ .old_name = __stringify(PFX) \"sys_getpid\", .new_func = new_getpid, }}, {{ }}
}};
static struct klp_func mfuncs[] = {{
\t{{ .old_name = \"mod_show\", .new_func = new_show, }}, {{ }}
}};
static struct klp_object objs[] = {{
\t{{ .funcs = vfuncs, }},
\t{{ .name = \"target_mod\", .funcs = mfuncs, }}, {{ }}
}};
{TAIL}"
    );
    let (spec, notes) = one("lp-one.c", &src);
    assert!(notes.is_empty(), "{notes:?}");
    let p = &spec.patches["lp_one"];
    assert!(!p.replace);
    assert!(p.objects["vmlinux"].funcs.contains_key("__x64_sys_getpid"));
    assert!(p.objects["target_mod"].funcs.contains_key("mod_show"));
    assert_eq!(spec.objects["target_mod"].funcs, vec!["mod_show"]);
    assert!(p.object_order.is_none());
}

#[test]
fn undefining_the_wrapper_config_changes_the_name() {
    let dir = tempfile::tempdir().unwrap();
    let src = format!(
        "{HEAD}
#ifdef CONFIG_ARCH_HAS_SYSCALL_WRAPPER
#define PFX __x64_
#else
#define PFX
#endif
static long new_getpid(void) {{ return 0; }}
static struct klp_func vfuncs[] = {{ {{ .old_name = __stringify(PFX) \"sys_getpid\", .new_func = new_getpid, }}, {{ }} }};
static struct klp_object objs[] = {{ {{ .funcs = vfuncs, }}, {{ }} }};
{TAIL}"
    );
    let p = write(&dir, "lp.c", &src);
    let opts = Options {
        undefines: vec!["CONFIG_ARCH_HAS_SYSCALL_WRAPPER".into()],
        ..Options::default()
    };
    let i = import(&[p], &opts).unwrap();
    assert!(i.spec.patches["lp"].objects["vmlinux"]
        .funcs
        .contains_key("sys_getpid"));
}

#[test]
fn callbacks_states_prev_state_and_errno() {
    let src = format!(
        "{HEAD}
#define MY_STATE 3
#define MY_VERSION 2
static int pre_patch_ret;
module_param(pre_patch_ret, int, 0644);
static struct klp_patch patch;
static int pre(struct klp_object *obj)
{{
\tif (klp_get_prev_state(MY_STATE))
\t\treturn 0;
\tif (!klp_get_state(&patch, MY_STATE))
\t\treturn -EINVAL;
\tpr_info(\"%s\\n\", __func__);
\treturn pre_patch_ret;
}}
static int pre_fails(struct klp_object *obj) {{ return -ENODEV; }}
static void post_unpatch(struct klp_object *obj) {{ pr_info(\"bye\\n\"); }}
static struct klp_func no_funcs[] = {{ {{ }} }};
static struct klp_object objs[] = {{
\t{{ .name = NULL, .funcs = no_funcs, .callbacks = {{ .pre_patch = pre, .post_unpatch = post_unpatch, }}, }},
\t{{ .name = \"m\", .funcs = no_funcs, .callbacks = {{ .pre_patch = pre_fails, }}, }}, {{ }}
}};
static struct klp_state states[] = {{ {{ .id = MY_STATE, .version = MY_VERSION, }}, {{ }} }};
static struct klp_patch patch = {{ .mod = THIS_MODULE, .objs = objs, .states = states, .replace = true, }};
static int lp_init(void) {{ return klp_enable_patch(&patch); }}
module_init(lp_init);
MODULE_INFO(livepatch, \"Y\");
"
    );
    let (spec, notes) = one("lp_cb.c", &src);
    assert!(notes.is_empty(), "{notes:?}");
    let p = &spec.patches["lp_cb"];
    assert!(p.replace);
    assert_eq!(p.states.len(), 1);
    assert_eq!((p.states[0].id, p.states[0].version), (3, 2));
    let v = &p.objects["vmlinux"].callbacks;
    let pre = v.pre_patch.as_ref().unwrap();
    let branch = pre
        .if_prev_state
        .as_ref()
        .expect("klp_get_prev_state branch");
    assert_eq!(branch.id, 3);
    // then: returns 0 without logging; else: logs and returns the parameter.
    assert_eq!(branch.then.log, None);
    assert!(branch.then.ret.is_none());
    assert_eq!(branch.otherwise.log, Some(true));
    assert!(matches!(&branch.otherwise.ret, Some(ErrnoSpec::Name(n)) if n == "param"));
    assert!(v.post_patch.is_none() && v.pre_unpatch.is_none());
    assert_eq!(
        v.post_unpatch.as_ref().unwrap().log,
        None,
        "logs (the default)"
    );
    let m = p.objects["m"].callbacks.pre_patch.as_ref().unwrap();
    assert!(matches!(&m.ret, Some(ErrnoSpec::Name(n)) if n == "ENODEV"));
    assert_eq!(m.log, Some(false));
    assert_eq!(p.object_order.as_ref().map(|o| o.len()), None);
}

#[test]
fn shadow_variables_in_code_callbacks_and_module_exit() {
    let src = format!(
        "{HEAD}
#define SV_A 7
#define SV_B 8
struct thing {{ int x; }};
static void *new_make(struct thing *t)
{{
\tint *a = klp_shadow_alloc(t, SV_A, sizeof(int), GFP_KERNEL, NULL, NULL);
\tif (!a)
\t\treturn NULL;
\treturn a;
}}
static void new_drop(struct thing *t)
{{
\tif (klp_shadow_get(t, SV_A))
\t\tklp_shadow_free(t, SV_A, NULL);
}}
static int new_read(struct thing *t)
{{
\tint *b = klp_shadow_get(t, SV_B);
\treturn *b;
}}
static int pre(struct klp_object *obj)
{{
\tif (!klp_shadow_get_or_alloc(obj, SV_B, 4, GFP_KERNEL, NULL, NULL))
\t\treturn -ENOMEM;
\treturn 0;
}}
static struct klp_func funcs[] = {{
\t{{ .old_name = \"make\", .new_func = new_make, }},
\t{{ .old_name = \"drop\", .new_func = new_drop, }},
\t{{ .old_name = \"read\", .new_func = new_read, }}, {{ }}
}};
static struct klp_object objs[] = {{ {{ .funcs = funcs, .callbacks = {{ .pre_patch = pre, }}, }}, {{ }} }};
static struct klp_patch patch = {{ .mod = THIS_MODULE, .objs = objs, }};
static int lp_init(void) {{ return klp_enable_patch(&patch); }}
static void lp_exit(void) {{ klp_shadow_free_all(SV_A, NULL); }}
module_init(lp_init);
module_exit(lp_exit);
MODULE_INFO(livepatch, \"Y\");
"
    );
    let (spec, _) = one("lp_sh.c", &src);
    assert_eq!(spec.shadow_vars["SV_A"].id, "0x7");
    assert_eq!(spec.shadow_vars["SV_B"].id, "0x8");
    let p = &spec.patches["lp_sh"];
    let f = &p.objects["vmlinux"].funcs;
    assert_eq!(f["make"].allocates_shadow, vec!["SV_A"]);
    assert_eq!(
        f["drop"].frees_shadow,
        vec!["SV_A"],
        "get-then-free of its own variable"
    );
    assert!(f["drop"].uses_shadow.is_empty());
    assert_eq!(f["read"].uses_shadow, vec!["SV_B"]);
    let pre = p.objects["vmlinux"].callbacks.pre_patch.as_ref().unwrap();
    assert_eq!(pre.shadow_get_or_alloc, vec!["SV_B"]);
    assert!(pre.ret.is_none(), "allocations succeed in the model");
    assert_eq!(p.module_exit.as_ref().unwrap().shadow_free_all, vec!["0x7"]);
}

#[test]
fn kernel_global_write_is_a_marked_placeholder() {
    let src = format!(
        "{HEAD}
static int saved;
static void post(struct klp_object *obj) {{ saved = console_loglevel; console_loglevel = 15; }}
static void pre_un(struct klp_object *obj) {{ console_loglevel = saved; }}
static struct klp_func no_funcs[] = {{ {{ }} }};
static struct klp_object objs[] = {{ {{ .funcs = no_funcs, .callbacks = {{ .post_patch = post, .pre_unpatch = pre_un, }}, }}, {{ }} }};
{TAIL}"
    );
    let (spec, notes) = one("lp_g.c", &src);
    let name = "TODO(import) console_loglevel";
    assert_eq!(spec.system_modifications, vec![name]);
    let cb = &spec.patches["lp_g"].objects["vmlinux"].callbacks;
    assert_eq!(cb.post_patch.as_ref().unwrap().set, vec![name]);
    assert_eq!(cb.pre_unpatch.as_ref().unwrap().clear, vec![name]);
    // `saved` is the module's own variable: no system modification.
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes[0].contains("lp_g.c:5:"), "{}", notes[0]);
}

#[test]
fn replace_from_module_parameter_and_local_include() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir,
        "common.c",
        &format!(
            "{HEAD}
static int replace = 1;
module_param(replace, int, 0644);
static int f_new(void) {{ return 0; }}
static struct klp_func funcs[] = {{ {{ .old_name = \"f\", .new_func = f_new, }}, {{ }} }};
static struct klp_object objs[] = {{ {{ .funcs = funcs, }}, {{ }} }};
static struct klp_patch patch = {{ .mod = THIS_MODULE, .objs = objs, }};
static int lp_init(void) {{ patch.replace = replace; return klp_enable_patch(&patch); }}
module_init(lp_init)
MODULE_INFO(livepatch, \"Y\");
"
        ),
    );
    let p = write(&dir, "lp-inc.c", "#include \"common.c\"\n");
    let i = import(&[p], &Options::default()).unwrap();
    let patch = &i.spec.patches["lp_inc"];
    assert!(patch.replace, "the parameter's default is 1");
    assert!(i
        .notes
        .iter()
        .any(|n| n.message.contains("module parameter `replace`")
            && n.loc.file.ends_with("common.c")));
}

#[test]
fn series_keeps_order_and_plans_upgrades_and_downgrades() {
    let dir = tempfile::tempdir().unwrap();
    let mk = |n: u32| {
        format!(
            "{HEAD}
static int f_v{n}(void) {{ return {n}; }}
static struct klp_func funcs[] = {{ {{ .old_name = \"f\", .new_func = f_v{n}, }}, {{ }} }};
static struct klp_object objs[] = {{ {{ .funcs = funcs, }}, {{ }} }};
static struct klp_patch patch = {{ .mod = THIS_MODULE, .objs = objs, .replace = true, }};
static int lp_init(void) {{ return klp_enable_patch(&patch); }}
module_init(lp_init);
MODULE_INFO(livepatch, \"Y\");
"
        )
    };
    let files: Vec<PathBuf> = (1..=3)
        .map(|n| write(&dir, &format!("v{n}.c"), &mk(n)))
        .collect();
    let opts = Options {
        series: true,
        ..Options::default()
    };
    let i = import(&files, &opts).unwrap();
    assert_eq!(i.spec.name.as_deref(), Some("series-v1-v2-v3"));
    // An upgrade and a downgrade plan between consecutive versions.
    let plans: Vec<&String> = i.spec.plans.keys().collect();
    assert_eq!(
        plans,
        [
            "downgrade-v2-to-v1",
            "downgrade-v3-to-v2",
            "upgrade-v1-to-v2",
            "upgrade-v2-to-v3"
        ]
    );
    let ops = |name: &str| -> Vec<String> {
        i.spec.plans[name]
            .iter()
            .map(|s| serde_json::to_value(s).unwrap()["op"].to_string())
            .collect()
    };
    assert_eq!(
        ops("downgrade-v3-to-v2"),
        [
            "\"load_livepatch\"",
            "\"load_livepatch\"",
            "\"unload_module\"",
            "\"load_livepatch\"",
            "\"unload_module\""
        ]
    );
    assert!(i.spec.admin.insmod.is_empty());
    assert!(i.spec.patches.values().all(|p| p.replace));
}

#[test]
fn klp_build_patch_funcs_callbacks_and_replace() {
    let diff = "diff --git a/fs/proc/cmdline.c b/fs/proc/cmdline.c
--- a/fs/proc/cmdline.c
+++ b/fs/proc/cmdline.c
@@ -1,12 +1,24 @@
 // SPDX-License-Identifier: GPL-2.0
 #include <linux/fs.h>
+#include <linux/livepatch_helpers.h>
+
+#define SV_X 5
+
+static int my_pre(struct klp_object *obj)
+{
+\tif (!klp_shadow_get_or_alloc(obj, SV_X, 4, GFP_KERNEL, NULL, NULL))
+\t\treturn -ENOMEM;
+\treturn 0;
+}
+KLP_PRE_PATCH_CALLBACK(my_pre);
 
 static int cmdline_proc_show(struct seq_file *m, void *v)
 {
-\tseq_puts(m, saved_command_line);
+\tif (!klp_shadow_get(m, SV_X))
+\t\treturn 0;
+\tseq_puts(m, \"patched\");
 \tseq_putc(m, '\\n');
 \treturn 0;
 }
 
 static int other(void)
@@ -40,3 +52,3 @@ static int __init proc_cmdline_init(void)
 {
-\tproc_create_single(\"cmdline\", 0, NULL, cmdline_proc_show);
+\tproc_create_single(\"cmdline\", 0444, NULL, cmdline_proc_show);
 \treturn 0;
";
    let dir = tempfile::tempdir().unwrap();
    let p = write(&dir, "fix-cmdline.patch", diff);
    let i = import(std::slice::from_ref(&p), &Options::default()).unwrap_or_else(|e| panic!("{e}"));
    klp_model::scenario::Scenario::compile(&i.spec, "t").unwrap();
    let patch = &i.spec.patches["livepatch_fix_cmdline"];
    assert!(patch.replace, "klp-build builds replace patches by default");
    let v = &patch.objects["vmlinux"];
    let names: Vec<&String> = v.funcs.keys().collect();
    assert_eq!(names, vec!["cmdline_proc_show", "proc_cmdline_init"]);
    // `if (!klp_shadow_get(m, SV_X)) return 0;`: NULL-checked, so the code
    // copes with a missing variable but relies on it once it exists.
    assert!(v.funcs["cmdline_proc_show"].uses_shadow.is_empty());
    assert_eq!(
        v.funcs["cmdline_proc_show"].uses_shadow_if_present,
        vec!["SV_X"]
    );
    let pre = v.callbacks.pre_patch.as_ref().unwrap();
    assert_eq!(pre.shadow_get_or_alloc, vec!["SV_X"]);
    let opts = Options {
        no_replace: true,
        ..Options::default()
    };
    let i = import(&[p], &opts).unwrap();
    assert!(!i.spec.patches["livepatch_fix_cmdline"].replace);
}

#[test]
fn bad_inputs_are_located() {
    let e = err("notes.c", "This is not C at all, just prose: {{{ ]]] .\n");
    assert!(e.contains("not C"), "{e}");
    let e = err(
        "nopatch.c",
        &format!("{HEAD}static int x;\nMODULE_INFO(livepatch, \"Y\");\n"),
    );
    assert!(
        e.contains("nopatch.c:4:1") && e.contains("no `struct klp_patch`"),
        "{e}"
    );
    let e = err(
        "badcb.c",
        &format!(
            "{HEAD}static struct klp_func no_funcs[] = {{ {{ }} }};
static struct klp_object objs[] = {{ {{ .funcs = no_funcs, .callbacks = {{ .pre_patch = missing_cb, }}, }}, {{ }} }};
{TAIL}"
        ),
    );
    assert!(
        e.contains("badcb.c:4:") && e.contains("unresolved callback") && e.contains("missing_cb"),
        "{e}"
    );
    let e = err(
        "badbuild.patch",
        "--- a/x.c\n+++ b/x.c\n@@ -1,1 +1,2 @@\n int a;\n+KLP_POST_PATCH_CALLBACK(nowhere);\n",
    );
    assert!(
        e.contains("badbuild.patch:5:") && e.contains("nowhere"),
        "{e}"
    );
}
