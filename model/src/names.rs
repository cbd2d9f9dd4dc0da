//! Names are data: what a scenario may call its patches, modules, objects,
//! functions, shadow variables and system modifications, and how big a
//! scenario may be. Checked once, before the scenario is compiled
//! ([`check_spec`], called from `Scenario::compile`), so that every later
//! stage (the model, the reports, the reproducer script, file names under
//! `--out`) only ever sees names of the shapes below. The writers still
//! quote and escape everything they print: this is the first of two walls.
//!
//! | what | characters | length | kernel limit it mirrors |
//! |---|---|---|---|
//! | module (`patches.P.module`, objects other than vmlinux) | `[A-Za-z0-9_-]` | 1..=55 | `MODULE_NAME_LEN - 1` (include/linux/module.h) |
//! | patch name (key of `patches`) | `[A-Za-z0-9_]` | 1..=55 | the patch is named after its module |
//! | function (`objects.O.funcs`) | `[A-Za-z0-9_.]`, not starting with `.` | 1..=511 | `KSYM_NAME_LEN - 1` (include/linux/kallsyms.h); `.` for `foo.isra.0`, `foo.cold` |
//! | shadow variable name, parent, id; system modification; task name | `[A-Za-z0-9_]` | 1..=64 | C identifiers |
//! | scenario `name` | printable, no control characters | 1..=128 | one path component under `--out` |
//! | `description` | no control characters except newline and tab | <= 16384 | |
//! | an `emit` log line | no control characters | <= 1024 | `LOG_LINE_MAX` (kernel/printk) order of magnitude |
//!
//! Bounds on the size of a scenario (the state bounds `MAX_TASKS`,
//! `MAX_DEPTH`, `MAX_PATCHES`, `MAX_FUNCS`, ... are checked by the compiler
//! in scenario.rs):
//!
//! | what | limit |
//! |---|---|
//! | `script` steps (the plan of `klpcheck run`) | [`MAX_SCRIPT_STEPS`] |
//! | `expected_events` | [`MAX_EXPECTED_EVENTS`] |
//! | `emit` lines per callback or implementation | [`MAX_EMIT_LINES`] |
//! | entries of `tasks.calls` per caller | [`crate::scenario::MAX_FUNCS`] |
//!
//! Every violation is a [`SpecError::Semantic`] with the JSON path of the
//! offending name, which the CLI prints as `file: at path: message` and
//! exits 2 on.

use crate::scenario::{SpecError, MAX_FUNCS};
use crate::spec::{Effects, Spec};

/// `MODULE_NAME_LEN - 1`: the longest module name the kernel stores.
pub const MAX_MODULE_NAME: usize = 55;
/// `KSYM_NAME_LEN - 1`: the longest symbol kallsyms knows.
pub const MAX_SYMBOL_NAME: usize = 511;
/// Shadow variables, their parents and ids, system modifications, tasks.
pub const MAX_IDENT: usize = 64;
/// A scenario's `name` (one path component under `--out`).
pub const MAX_SCENARIO_NAME: usize = 128;
/// A scenario's `description`.
pub const MAX_DESCRIPTION: usize = 16 * 1024;
/// One `emit` line.
pub const MAX_EMIT_LINE: usize = 1024;
/// `emit` lines of one callback or patched implementation.
pub const MAX_EMIT_LINES: usize = 64;
/// Steps of a `script`.
pub const MAX_SCRIPT_STEPS: usize = 10_000;
/// Entries of `expected_events`.
pub const MAX_EXPECTED_EVENTS: usize = 100_000;

fn semantic(path: impl Into<String>, message: impl Into<String>) -> SpecError {
    SpecError::Semantic {
        path: path.into(),
        message: message.into(),
    }
}

/// A name as an error message shows it: quoted and escaped, at most 60
/// characters, so a hostile name cannot forge lines of the message.
pub fn shown(name: &str) -> String {
    let mut s: String = name.chars().take(60).flat_map(char::escape_debug).collect();
    if name.chars().count() > 60 {
        s += "...";
    }
    format!("`{s}`")
}

fn check_chars(
    path: &str,
    what: &str,
    name: &str,
    max: usize,
    allowed: fn(char) -> bool,
    allowed_text: &str,
) -> Result<(), SpecError> {
    if name.is_empty() {
        return Err(semantic(path, format!("{what} must not be empty")));
    }
    if name.len() > max {
        return Err(semantic(
            path,
            format!(
                "{what} {} is {} bytes long; at most {max} are allowed",
                shown(name),
                name.len()
            ),
        ));
    }
    if let Some((i, c)) = name.char_indices().find(|&(_, c)| !allowed(c)) {
        return Err(semantic(
            path,
            format!(
                "{what} {} has {:?} at byte {i}; only {allowed_text} are allowed",
                shown(name),
                c
            ),
        ));
    }
    Ok(())
}

/// A module name: `[A-Za-z0-9_-]`, at most [`MAX_MODULE_NAME`] bytes.
pub fn check_module_name(path: &str, name: &str) -> Result<(), SpecError> {
    check_chars(
        path,
        "module name",
        name,
        MAX_MODULE_NAME,
        |c| c.is_ascii_alphanumeric() || c == '_' || c == '-',
        "letters, digits, `_` and `-`",
    )
}

/// A patch name: `[A-Za-z0-9_]`, at most [`MAX_MODULE_NAME`] bytes.
pub fn check_patch_name(path: &str, name: &str) -> Result<(), SpecError> {
    check_chars(
        path,
        "patch name",
        name,
        MAX_MODULE_NAME,
        |c| c.is_ascii_alphanumeric() || c == '_',
        "letters, digits and `_`",
    )
}

/// A function (kernel symbol) name: `[A-Za-z0-9_.]`, not starting with
/// `.`, at most [`MAX_SYMBOL_NAME`] bytes.
pub fn check_symbol_name(path: &str, name: &str) -> Result<(), SpecError> {
    check_chars(
        path,
        "function name",
        name,
        MAX_SYMBOL_NAME,
        |c| c.is_ascii_alphanumeric() || c == '_' || c == '.',
        "letters, digits, `_` and `.`",
    )?;
    if name.starts_with('.') {
        return Err(semantic(
            path,
            format!("function name {} must not start with `.`", shown(name)),
        ));
    }
    Ok(())
}

/// An identifier (shadow variable, its parent and id, a system
/// modification, a task): `[A-Za-z0-9_]`, at most [`MAX_IDENT`] bytes.
pub fn check_identifier(path: &str, what: &str, name: &str) -> Result<(), SpecError> {
    check_chars(
        path,
        what,
        name,
        MAX_IDENT,
        |c| c.is_ascii_alphanumeric() || c == '_',
        "letters, digits and `_`",
    )
}

/// Free text printed on one line (a scenario name, an `emit` line): no
/// control characters, at most `max` bytes.
pub fn check_line(path: &str, what: &str, text: &str, max: usize) -> Result<(), SpecError> {
    if text.len() > max {
        return Err(semantic(
            path,
            format!(
                "{what} is {} bytes long; at most {max} are allowed",
                text.len()
            ),
        ));
    }
    if let Some((i, c)) = text.char_indices().find(|&(_, c)| c.is_control()) {
        return Err(semantic(
            path,
            format!(
                "{what} {} has the control character {c:?} at byte {i}",
                shown(text)
            ),
        ));
    }
    Ok(())
}

fn check_effects(path: &str, e: &Effects) -> Result<(), SpecError> {
    check_emit(&format!("{path}.emit"), &e.emit)?;
    if let Some(c) = &e.if_prev_state {
        check_effects(&format!("{path}.if_prev_state.then"), &c.then)?;
        check_effects(&format!("{path}.if_prev_state.else"), &c.otherwise)?;
    }
    Ok(())
}

fn check_emit(path: &str, lines: &[String]) -> Result<(), SpecError> {
    if lines.len() > MAX_EMIT_LINES {
        return Err(semantic(
            path,
            format!(
                "{} lines; at most {MAX_EMIT_LINES} are allowed",
                lines.len()
            ),
        ));
    }
    for (i, l) in lines.iter().enumerate() {
        check_line(&format!("{path}[{i}]"), "a log line", l, MAX_EMIT_LINE)?;
    }
    Ok(())
}

/// Checks every name and size bound of `spec` (see the module docs). The
/// first problem found is returned with its JSON path.
pub fn check_spec(spec: &Spec) -> Result<(), SpecError> {
    if let Some(name) = &spec.name {
        if name.is_empty() {
            return Err(semantic("name", "the scenario name must not be empty"));
        }
        check_line("name", "the scenario name", name, MAX_SCENARIO_NAME)?;
    }
    if let Some(d) = &spec.description {
        if d.len() > MAX_DESCRIPTION {
            return Err(semantic(
                "description",
                format!(
                    "{} bytes long; at most {MAX_DESCRIPTION} are allowed",
                    d.len()
                ),
            ));
        }
        if let Some((i, c)) = d
            .char_indices()
            .find(|&(_, c)| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(semantic(
                "description",
                format!("has the control character {c:?} at byte {i}"),
            ));
        }
    }
    for (name, o) in &spec.objects {
        let path = format!("objects.{name}");
        if name != "vmlinux" {
            check_module_name(&path, name)?;
        }
        for (i, f) in o.funcs.iter().enumerate() {
            check_symbol_name(&format!("{path}.funcs[{i}]"), f)?;
        }
    }
    for (name, v) in &spec.shadow_vars {
        let path = format!("shadow_vars.{name}");
        check_identifier(&path, "shadow variable name", name)?;
        // The parent and id are keys written as the C source has them
        // (`&objs[0]`, `SV_LEAK`): text on one line, not identifiers.
        check_line(&format!("{path}.parent"), "shadow parent", &v.parent, 64)?;
        check_line(&format!("{path}.id"), "shadow id", &v.id, 64)?;
    }
    for (i, m) in spec.system_modifications.iter().enumerate() {
        // A name for a change of the system, possibly an import's marked
        // placeholder (`TODO(import) console_loglevel`): one line of text.
        check_line(
            &format!("system_modifications[{i}]"),
            "system modification",
            m,
            128,
        )?;
    }
    for name in spec.plans.keys() {
        check_chars(
            &format!("plans.{name}"),
            "plan name",
            name,
            MAX_IDENT,
            |c| c.is_ascii_alphanumeric() || c == '_' || c == '-',
            "letters, digits, `_` and `-`",
        )?;
    }
    for (name, p) in &spec.patches {
        let path = format!("patches.{name}");
        check_patch_name(&path, name)?;
        if let Some(m) = &p.module {
            check_module_name(&format!("{path}.module"), m)?;
        }
        if let Some(e) = &p.module_exit {
            check_effects(&format!("{path}.module_exit"), e)?;
        }
        for (oname, o) in &p.objects {
            let opath = format!("{path}.objects.{oname}");
            for (fname, code) in &o.funcs {
                check_emit(&format!("{opath}.funcs.{fname}.emit"), &code.emit)?;
            }
            let cb = &o.callbacks;
            for (kind, e) in [
                ("pre_patch", &cb.pre_patch),
                ("post_patch", &cb.post_patch),
                ("pre_unpatch", &cb.pre_unpatch),
                ("post_unpatch", &cb.post_unpatch),
            ] {
                if let Some(e) = e {
                    check_effects(&format!("{opath}.callbacks.{kind}"), e)?;
                }
            }
        }
    }
    for (caller, callees) in &spec.tasks.calls {
        if callees.len() > MAX_FUNCS {
            return Err(semantic(
                format!("tasks.calls.{caller}"),
                format!("{} callees; at most {MAX_FUNCS} are allowed", callees.len()),
            ));
        }
    }
    if let Some(script) = &spec.script {
        if script.len() > MAX_SCRIPT_STEPS {
            return Err(semantic(
                "script",
                format!(
                    "{} steps; at most {MAX_SCRIPT_STEPS} are allowed",
                    script.len()
                ),
            ));
        }
    }
    if let Some(events) = &spec.expected_events {
        if events.len() > MAX_EXPECTED_EVENTS {
            return Err(semantic(
                "expected_events",
                format!(
                    "{} events; at most {MAX_EXPECTED_EVENTS} are allowed",
                    events.len()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{parse_spec, Scenario};

    fn compile(text: &str) -> Result<Scenario, SpecError> {
        Scenario::compile(&parse_spec(text).unwrap(), "t")
    }

    fn spec_with(patch: &str, module: &str, func: &str) -> String {
        serde_json::json!({
            "spec_version": 1,
            "objects": {"vmlinux": {"funcs": [func]}},
            "patches": {patch: {"module": module, "objects": {"vmlinux": {"funcs": {func: {}}}}}}
        })
        .to_string()
    }

    fn path_of(e: SpecError) -> String {
        match e {
            SpecError::Semantic { path, .. } => path,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn kernel_shaped_names_are_accepted() {
        compile(&spec_with(
            "P1",
            "test_klp-livepatch",
            "cmdline_proc_show.isra.0",
        ))
        .unwrap();
        let long_module = "m".repeat(MAX_MODULE_NAME);
        compile(&spec_with("P1", &long_module, "f")).unwrap();
    }

    #[test]
    fn hostile_names_are_refused_with_their_path() {
        let e = compile(&spec_with("P1", "m$(touch /tmp/x)", "f")).unwrap_err();
        assert_eq!(path_of(e.clone()), "patches.P1.module");
        assert!(e.to_string().contains("'$' at byte 1"), "{e}");
        let e = compile(&spec_with("P`id`", "m", "f")).unwrap_err();
        assert_eq!(path_of(e), "patches.P`id`");
        let e = compile(&spec_with("P1", "m", "f;reboot")).unwrap_err();
        assert_eq!(path_of(e), "objects.vmlinux.funcs[0]");
        let e = compile(&spec_with("P1", "m", ".f")).unwrap_err();
        assert_eq!(path_of(e), "objects.vmlinux.funcs[0]");
        let e = compile(&spec_with("P1", &"m".repeat(MAX_MODULE_NAME + 1), "f")).unwrap_err();
        assert!(e.to_string().contains("at most 55"), "{e}");
        let e = compile(&spec_with("a/b", "m", "f")).unwrap_err();
        assert_eq!(path_of(e), "patches.a/b");
    }

    #[test]
    fn control_characters_in_lines_are_refused() {
        let text = serde_json::json!({
            "spec_version": 1,
            "name": "x\n::error::forged",
            "objects": {"vmlinux": {"funcs": ["f"]}},
            "patches": {"P1": {"objects": {"vmlinux": {"funcs": {"f": {}}}}}}
        })
        .to_string();
        let e = compile(&text).unwrap_err();
        assert_eq!(path_of(e.clone()), "name");
        // The message shows the name escaped: it stays one line.
        assert!(!e.to_string().contains('\n'), "{e}");
        let text = serde_json::json!({
            "spec_version": 1,
            "objects": {"vmlinux": {"funcs": ["f"]}},
            "patches": {"P1": {"objects": {"vmlinux": {"funcs": {"f": {"emit": ["ok", "EXPECTED\r"]}}}}}}
        })
        .to_string();
        let e = compile(&text).unwrap_err();
        assert_eq!(path_of(e), "patches.P1.objects.vmlinux.funcs.f.emit[1]");
    }

    #[test]
    fn plan_length_is_bounded() {
        let steps: Vec<serde_json::Value> = (0..=MAX_SCRIPT_STEPS)
            .map(|_| serde_json::json!({"op": "transition_work", "args": {}}))
            .collect();
        let text = serde_json::json!({
            "spec_version": 1,
            "objects": {"vmlinux": {"funcs": ["f"]}},
            "patches": {"P1": {"objects": {"vmlinux": {"funcs": {"f": {}}}}}},
            "script": steps
        })
        .to_string();
        let e = compile(&text).unwrap_err();
        assert_eq!(path_of(e), "script");
    }
}
