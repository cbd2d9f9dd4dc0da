//! test_klp_shadow_vars' init, restated as a program over the model's
//! shadow variables (shadow.c). The module logs pointers as `PTRn`, numbered
//! in the order its `ptr_id()` first sees them, so the interpreter calls
//! `ptr_id` exactly where the module's wrappers do (in argument order).

use std::collections::BTreeMap;

use klp_model::event::NoEvents;
use klp_model::kernel::Kernel;
use klp_model::{Scenario, State};
use serde_json::Value;

/// The state of one run of the program: pointer numbering and what each
/// shadow variable's data points to.
pub struct ShadowProgram<'a> {
    sc: &'a Scenario,
    ids: Vec<String>,
    /// Per shadow variable: the name of its data buffer and what it holds.
    data: BTreeMap<u8, (String, String)>,
    created: usize,
    pub log: Vec<String>,
}

fn field<'v>(op: &'v Value, key: &str) -> Result<&'v str, String> {
    op.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("init_program op needs `{key}`"))
}

impl<'a> ShadowProgram<'a> {
    pub fn new(sc: &'a Scenario) -> Self {
        ShadowProgram {
            sc,
            ids: vec![],
            data: BTreeMap::new(),
            created: 0,
            log: vec![],
        }
    }

    /// ptr_id(): a stable small number per pointer, in order of first use.
    fn ptr(&mut self, name: &str) -> String {
        let n = match self.ids.iter().position(|x| x == name) {
            Some(n) => n,
            None => {
                self.ids.push(name.to_string());
                self.ids.len() - 1
            }
        };
        format!("PTR{n}")
    }

    fn var(&self, obj: &str, id: &str) -> Result<u8, String> {
        self.sc
            .shadow_vars
            .iter()
            .position(|v| v.parent == obj && v.id == id)
            .map(|i| i as u8)
            .ok_or_else(|| format!("no shadow variable <{obj}, {id}> is declared"))
    }

    /// Runs `ops` on `state`.
    pub fn run(&mut self, state: &mut State, ops: &[Value], subst: &str) -> Result<(), String> {
        for op in ops {
            // `{i}` is the index of the enclosing `repeat` (none at top level).
            if subst.is_empty() {
                self.run_op(state, op)?;
            } else {
                let text = serde_json::to_string(op)
                    .expect("ops serialize")
                    .replace("{i}", subst);
                let op: Value = serde_json::from_str(&text).expect("substituted op is JSON");
                self.run_op(state, &op)?;
            }
        }
        Ok(())
    }

    fn exists(&self, state: &State, v: u8) -> bool {
        state.shadow & (1 << v) != 0
    }

    fn run_op(&mut self, state: &mut State, op: &Value) -> Result<(), String> {
        let kind = field(op, "op")?;
        match kind {
            "ptr_id" => {
                self.ptr(field(op, "ptr")?);
            }
            "repeat" => {
                let values = op
                    .get("values")
                    .and_then(Value::as_array)
                    .ok_or("repeat needs `values`")?;
                let body = op
                    .get("do")
                    .and_then(Value::as_array)
                    .ok_or("repeat needs `do`")?
                    .clone();
                for v in values {
                    self.run(state, &body, v.as_str().unwrap_or_default())?;
                }
            }
            "get" => {
                let (obj, id) = (field(op, "obj")?, field(op, "id")?);
                let v = self.var(obj, id)?;
                let result = if self.exists(state, v) {
                    self.data[&v].0.clone()
                } else {
                    "NULL".to_string()
                };
                // klp_shadow_get(obj, id) = sv
                let (o, r) = (self.ptr(obj), self.ptr(&result));
                self.log.push(format!("shadow_get({o},{id},{r})"));
                self.check(state, op, v, &result)?;
            }
            "alloc" | "get_or_alloc" => {
                let (obj, id, data) = (field(op, "obj")?, field(op, "id")?, field(op, "data")?);
                let v = self.var(obj, id)?;
                let mut sink = NoEvents;
                let mut k = Kernel::new(self.sc, state, &mut sink);
                let existed = k.s.shadow & (1 << v) != 0;
                if kind == "alloc" {
                    k.klp_shadow_alloc(v);
                } else {
                    k.klp_shadow_get_or_alloc(v);
                }
                let result = match (existed, kind) {
                    (true, "alloc") => "NULL".to_string(),
                    (true, _) => self.data[&v].0.clone(),
                    (false, _) => {
                        // A new variable: the ctor runs under the lock and
                        // logs `shadow_ctor: PTR<sv> -> PTR<*ctor_data>`.
                        self.created += 1;
                        let sv = format!("shadow#{}", self.created);
                        self.data.insert(v, (sv.clone(), data.to_string()));
                        let (s, d) = (self.ptr(&sv), self.ptr(data));
                        self.log.push(format!("shadow_ctor({s},{d})"));
                        sv
                    }
                };
                let (o, _ctor, d, r) = (
                    self.ptr(obj),
                    self.ptr("shadow_ctor"),
                    self.ptr(data),
                    self.ptr(&result),
                );
                self.log.push(format!("shadow_{kind}({o},{id},{d},{r})"));
                self.check(state, op, v, &result)?;
            }
            "free" => {
                let (obj, id) = (field(op, "obj")?, field(op, "id")?);
                let dtor = field(op, "dtor")?;
                let v = self.var(obj, id)?;
                if self.exists(state, v) {
                    let sv = self.data[&v].0.clone();
                    let (o, s) = (self.ptr(obj), self.ptr(&sv));
                    self.log.push(format!("shadow_dtor({o},{s})"));
                    Kernel::new(self.sc, state, &mut NoEvents).klp_shadow_free(v);
                }
                let (o, d) = (self.ptr(obj), self.ptr(dtor));
                self.log.push(format!("shadow_free({o},{id},{d})"));
            }
            "free_all" => {
                let id = field(op, "id")?;
                let mask = self.sc.shadow_ids_mask(id);
                let mut sink = NoEvents;
                let mut k = Kernel::new(self.sc, state, &mut sink);
                for v in klp_model::kernel::bits(mask) {
                    k.klp_shadow_free(v);
                }
                let d = self.ptr("NULL");
                self.log.push(format!("shadow_free_all({id},{d})"));
            }
            other => return Err(format!("unknown init_program op `{other}`")),
        }
        Ok(())
    }

    /// The module's checks: "got expected NULL result" and
    /// "got expected PTRa -> PTRb result"; a missing variable makes init fail.
    fn check(&mut self, state: &State, op: &Value, v: u8, result: &str) -> Result<(), String> {
        match op.get("check").and_then(Value::as_str) {
            None => Ok(()),
            Some("null") => {
                if result == "NULL" {
                    self.log.push("shadow_expect_null".to_string());
                }
                Ok(())
            }
            Some("allocated") => {
                if !self.exists(state, v) || result == "NULL" {
                    return Err(format!(
                        "shadow variable {} is missing: init fails",
                        self.sc.shadow_vars[v as usize].name
                    ));
                }
                let (sv, data) = self.data[&v].clone();
                let wanted = op.get("data").and_then(Value::as_str).unwrap_or(&data);
                if sv == result && data == wanted {
                    let (s, d) = (self.ptr(&sv), self.ptr(&data));
                    self.log.push(format!("shadow_expect({s},{d})"));
                }
                Ok(())
            }
            Some(other) => Err(format!("unknown check `{other}`")),
        }
    }
}
