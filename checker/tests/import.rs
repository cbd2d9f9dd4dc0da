//! `klpcheck import` against the project's hand-written module definitions
//! (specs/selftests/modules): the lab's own modules (lab/modules/*.c, in the
//! repository) and the kernel's selftest test_modules and livepatch samples
//! of linux-source-7.2, vendored in import/tests/kernel-7.2 (or the source
//! tree `$KLP_LINUX_SRC` names: checker/tests/import-kernel.sh fetches the
//! package and runs this on it). Plus the CLI: a series checked end to end,
//! and bad input exiting 2 with file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use klp_checker::selftest::library::{Library, ModuleDef, ModuleKind};
use klp_model::spec::{CodeSpec, Effects, ErrnoSpec, PatchSpec};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The kernel source tree the kernel tests read: `$KLP_LINUX_SRC` if set,
/// else the copy of linux-source-7.2's livepatch files in the repository.
fn kernel_src() -> PathBuf {
    match std::env::var_os("KLP_LINUX_SRC") {
        Some(src) => PathBuf::from(src),
        None => repo().join("import/tests/kernel-7.2"),
    }
}

fn ret(r: &Option<ErrnoSpec>) -> String {
    match r {
        None => "0".into(),
        Some(ErrnoSpec::Number(n)) => n.to_string(),
        Some(ErrnoSpec::Name(s)) => s.clone(),
    }
}

/// Effects without the log-line vocabulary (`emit`): what the model does.
fn norm(e: &Effects, default_log: bool) -> String {
    let mut s = format!(
        "log={} alloc={:?} get_or_alloc={:?} free={:?} free_all={:?} set={:?} clear={:?} ret={}",
        e.log.unwrap_or(default_log),
        e.shadow_alloc,
        e.shadow_get_or_alloc,
        e.shadow_free,
        e.shadow_free_all,
        e.set,
        e.clear,
        ret(&e.ret)
    );
    if let Some(b) = &e.if_prev_state {
        s += &format!(
            " if_prev_state({}) {{ {} }} else {{ {} }}",
            b.id,
            norm(&b.then, false),
            norm(&b.otherwise, false)
        );
    }
    s
}

fn code(c: &CodeSpec) -> String {
    format!(
        "uses={:?} uses_if_present={:?} allocates={:?} frees={:?} needs={:?}",
        c.uses_shadow, c.uses_shadow_if_present, c.allocates_shadow, c.frees_shadow, c.needs
    )
}

fn order(p: &PatchSpec) -> Vec<String> {
    p.object_order.clone().unwrap_or_else(|| {
        let mut o: Vec<String> = p.objects.keys().cloned().collect();
        o.sort_by_key(|n| n != "vmlinux");
        o
    })
}

/// Every difference between a hand-written definition and the import of
/// its source, one line each.
fn compare(def: &ModuleDef, src: &Path) -> Vec<String> {
    let m = &def.module;
    let mut d = Vec::new();
    if def.kind == ModuleKind::Target {
        let t = klp_import::target_module(src, &klp_import::Options::default())
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("{m}: imported as a livepatch"));
        let logs = def.objects.get(m).map(|o| o.logs).unwrap_or(false);
        if t.1 != logs {
            d.push(format!("{m}: logs: hand-written {logs}, imported {}", t.1));
        }
        if !def.init_program.is_empty() {
            d.push(format!("{m}: init_program: not imported"));
        }
        return d;
    }
    let imp = klp_import::import(&[src.to_path_buf()], &klp_import::Options::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let p = &imp.spec.patches[m];
    let h = def
        .patch
        .as_ref()
        .expect("a livepatch definition has a patch");
    if p.replace != h.replace {
        d.push(format!(
            "{m}: replace: hand-written {}, imported {}",
            h.replace, p.replace
        ));
    }
    if order(p) != order(h) {
        d.push(format!(
            "{m}: objects: hand-written {:?}, imported {:?}",
            order(h),
            order(p)
        ));
    }
    let hs: Vec<(u64, u32)> = h.states.iter().map(|s| (s.id, s.version)).collect();
    let ps: Vec<(u64, u32)> = p.states.iter().map(|s| (s.id, s.version)).collect();
    if hs != ps {
        d.push(format!("{m}: states: hand-written {hs:?}, imported {ps:?}"));
    }
    let hx = h.module_exit.as_ref().map(|e| norm(e, false));
    let px = p.module_exit.as_ref().map(|e| norm(e, false));
    if hx != px {
        d.push(format!(
            "{m}: module_exit: hand-written {hx:?}, imported {px:?}"
        ));
    }
    for (oname, ho) in &h.objects {
        let Some(po) = p.objects.get(oname) else {
            continue;
        };
        let hf: Vec<&String> = ho.funcs.keys().collect();
        let pf: Vec<&String> = po.funcs.keys().collect();
        if hf != pf {
            d.push(format!(
                "{m}: {oname}.funcs: hand-written {hf:?}, imported {pf:?}"
            ));
        }
        for (f, hc) in &ho.funcs {
            if let Some(pc) = po.funcs.get(f) {
                if code(hc) != code(pc) {
                    d.push(format!(
                        "{m}: {oname}.{f}: hand-written {}, imported {}",
                        code(hc),
                        code(pc)
                    ));
                }
                if !hc.emit.is_empty() {
                    d.push(format!("{m}: {oname}.{f}: emit {:?} not imported", hc.emit));
                }
            }
        }
        let cbs = [
            (
                "pre_patch",
                &ho.callbacks.pre_patch,
                &po.callbacks.pre_patch,
            ),
            (
                "post_patch",
                &ho.callbacks.post_patch,
                &po.callbacks.post_patch,
            ),
            (
                "pre_unpatch",
                &ho.callbacks.pre_unpatch,
                &po.callbacks.pre_unpatch,
            ),
            (
                "post_unpatch",
                &ho.callbacks.post_unpatch,
                &po.callbacks.post_unpatch,
            ),
        ];
        for (k, hc, pc) in cbs {
            let (a, b) = (
                hc.as_ref().map(|e| norm(e, true)),
                pc.as_ref().map(|e| norm(e, true)),
            );
            if a != b {
                d.push(format!(
                    "{m}: {oname}.{k}: hand-written {a:?}, imported {b:?}"
                ));
            }
            if hc.as_ref().is_some_and(has_emit) {
                d.push(format!("{m}: {oname}.{k}: emit lines not imported"));
            }
        }
    }
    for oname in p.objects.keys() {
        if !h.objects.contains_key(oname) {
            d.push(format!("{m}: object {oname}: only in the import"));
        }
    }
    // Object-level function lists (what the module defines or refers to).
    for (oname, o) in &imp.spec.objects {
        if let Some(ho) = def.objects.get(oname) {
            let mut a = ho.funcs.clone();
            let mut b = o.funcs.clone();
            a.sort();
            b.sort();
            if a != b {
                d.push(format!(
                    "{m}: objects.{oname}.funcs: hand-written {a:?}, imported {b:?}"
                ));
            }
        }
    }
    let hsv: BTreeMap<_, _> = def.shadow_vars.iter().map(|(k, v)| (k, &v.id)).collect();
    let psv: BTreeMap<_, _> = imp
        .spec
        .shadow_vars
        .iter()
        .map(|(k, v)| (k, &v.id))
        .collect();
    if hsv != psv {
        d.push(format!(
            "{m}: shadow_vars: hand-written {hsv:?}, imported {psv:?}"
        ));
    }
    d
}

fn has_emit(e: &Effects) -> bool {
    !e.emit.is_empty()
        || e.if_prev_state
            .as_ref()
            .is_some_and(|b| has_emit(&b.then) || has_emit(&b.otherwise))
}

const STATE_POST: &str =
    "log=true alloc=[] get_or_alloc=[] free=[] free_all=[] set=[] clear=[] ret=0";

/// The differences the import is known to have, each explained in
/// checker/tests/import-differences.md (which one is right, and why).
fn known(module: &str) -> Vec<String> {
    let m = module;
    let prev = |then: &str, other: &str| {
        format!("{STATE_POST} if_prev_state(1) {{ log=false alloc=[] get_or_alloc=[] free=[] free_all=[] set={then} clear=[] ret=0 }} else {{ log=false alloc=[] get_or_alloc=[] free=[] free_all=[] set={other} clear=[] ret=0 }}")
    };
    let prev_clear = |other: &str| {
        format!("{STATE_POST} if_prev_state(1) {{ log=false alloc=[] get_or_alloc=[] free=[] free_all=[] set=[] clear=[] ret=0 }} else {{ log=false alloc=[] get_or_alloc=[] free=[] free_all=[] set=[] clear={other} ret=0 }}")
    };
    let sysmod = "[\"TODO(import) console_loglevel\"]";
    let hand_prev = prev("[]", "[]");
    match m {
        "test_klp_callbacks_demo" | "test_klp_lab_patch" | "test_klp_lab_patch2" => {
            vec![format!(
                "{m}: test_klp_callbacks_busy.busymod_work_func: emit [\"patched_work({{patch}})\"] not imported"
            )]
        }
        "test_klp_state" => vec![
            format!("{m}: vmlinux.pre_patch: emit lines not imported"),
            format!(
                "{m}: vmlinux.post_patch: hand-written Some({STATE_POST:?}), imported Some({:?})",
                STATE_POST.replace("set=[]", &format!("set={sysmod}"))
            ),
            format!("{m}: vmlinux.post_patch: emit lines not imported"),
            format!(
                "{m}: vmlinux.pre_unpatch: hand-written Some({STATE_POST:?}), imported Some({:?})",
                STATE_POST.replace("clear=[]", &format!("clear={sysmod}"))
            ),
            format!("{m}: vmlinux.pre_unpatch: emit lines not imported"),
            format!("{m}: vmlinux.post_unpatch: emit lines not imported"),
        ],
        "test_klp_state2" | "test_klp_state3" => vec![
            format!("{m}: vmlinux.pre_patch: emit lines not imported"),
            format!(
                "{m}: vmlinux.post_patch: hand-written Some({hand_prev:?}), imported Some({:?})",
                prev("[]", sysmod)
            ),
            format!("{m}: vmlinux.post_patch: emit lines not imported"),
            format!(
                "{m}: vmlinux.pre_unpatch: hand-written Some({hand_prev:?}), imported Some({:?})",
                prev_clear(sysmod)
            ),
            format!("{m}: vmlinux.pre_unpatch: emit lines not imported"),
            format!("{m}: vmlinux.post_unpatch: emit lines not imported"),
        ],
        "test_klp_shadow_vars" => vec![format!("{m}: init_program: not imported")],
        _ => vec![],
    }
}

fn check_dir(dir: &Path, lib: &Library, only: Option<&[&str]>) -> usize {
    let mut n = 0;
    let mut failures = Vec::new();
    for (name, def) in &lib.modules {
        if only.is_some_and(|o| !o.contains(&name.as_str())) {
            continue;
        }
        let src = dir.join(format!("{name}.c"));
        if !src.is_file() {
            continue;
        }
        n += 1;
        let got = compare(def, &src);
        let want = known(name);
        if got != want {
            failures.push(format!(
                "{name}:\n  got:\n    {}\n  known:\n    {}",
                got.join("\n    "),
                want.join("\n    ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    n
}

#[test]
fn lab_modules_match_their_definitions() {
    let lib = Library::builtin();
    // The 6.1 lab's modules and the lab's copies of samples/livepatch's
    // shadow modules (fix1 and fix2 with `.replace = true`). The 7.2 concurrency modules (shadow, stack,
    // oob, conc_target) have hand-written definitions that differ from
    // their imports (the importer reads P1's klp_shadow_get + free as a
    // use); reconciling them is open work (see the issue 16 note).
    let n = check_dir(
        &repo().join("lab/modules"),
        &lib,
        Some(&[
            "test_klp_lab_patch",
            "test_klp_lab_patch2",
            "test_klp_lab_target",
            "livepatch_shadow_mod",
            "livepatch_shadow_fix1",
            "livepatch_shadow_fix2",
        ]),
    );
    assert_eq!(
        n, 6,
        "the three lab modules and the three sample copies were compared"
    );
}

#[test]
fn kernel_selftest_modules_match_their_definitions() {
    let dir = kernel_src().join("tools/testing/selftests/livepatch/test_modules");
    assert!(dir.is_dir(), "{} is not a directory", dir.display());
    let lib = Library::builtin();
    let n = check_dir(&dir, &lib, None);
    println!("compared {n} selftest modules with specs/selftests/modules");
    assert!(n >= 13, "only {n} modules found in {}", dir.display());
    // Every C file there imports (livepatches as scenarios, the others as
    // target modules).
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "c") {
            klp_import::target_module(&p, &klp_import::Options::default())
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

#[test]
fn kernel_samples_import_and_the_shadow_series_is_caught() {
    let dir = kernel_src().join("samples/livepatch");
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "c") {
            klp_import::target_module(&p, &klp_import::Options::default())
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("series.json");
    Command::cargo_bin("klpcheck")
        .unwrap()
        .arg("import")
        .arg("--series")
        .arg("--replace")
        .arg(dir.join("livepatch-shadow-fix1.c"))
        .arg(dir.join("livepatch-shadow-fix2.c"))
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let run = Command::cargo_bin("klpcheck")
        .unwrap()
        .args(["check", "--quiet", "--format", "json"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let report: serde_json::Value =
        serde_json::from_slice(run.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
    let prop = report["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "shadow-no-use-after-free")
        .unwrap();
    assert_eq!(prop["status"], "violated");
    let last = prop["trace"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .to_string();
    assert!(
        last.contains("dummy_free") && last.contains("livepatch_shadow_fix2"),
        "{last}"
    );
}

/// Two versions of a livepatch written for this test: v1 attaches a shadow
/// variable in the new `make` and frees every one in module_exit (the
/// samples' habit); v2 reads it in `use_it` but never creates it.
const V1: &str = r#"#include <linux/module.h>
#include <linux/livepatch.h>
#define SV_DATA 1
static void *make_v1(void *o) { return klp_shadow_get_or_alloc(o, SV_DATA, 8, GFP_KERNEL, NULL, NULL); }
static struct klp_func funcs[] = { { .old_name = "make", .new_func = make_v1, }, { } };
static struct klp_object objs[] = { { .funcs = funcs, }, { } };
static struct klp_patch patch = { .mod = THIS_MODULE, .objs = objs, };
static int v1_init(void) { return klp_enable_patch(&patch); }
static void v1_exit(void) { klp_shadow_free_all(SV_DATA, NULL); }
module_init(v1_init);
module_exit(v1_exit);
MODULE_INFO(livepatch, "Y");
"#;

const V2: &str = r#"#include <linux/module.h>
#include <linux/livepatch.h>
#define SV_DATA 1
static int use_v2(void *o) { int *d = klp_shadow_get(o, SV_DATA); return d ? *d : 0; }
static struct klp_func funcs[] = { { .old_name = "use_it", .new_func = use_v2, }, { } };
static struct klp_object objs[] = { { .funcs = funcs, }, { } };
static struct klp_patch patch = { .mod = THIS_MODULE, .objs = objs, .replace = true, };
static int v2_init(void) { return klp_enable_patch(&patch); }
module_init(v2_init);
MODULE_INFO(livepatch, "Y");
"#;

#[test]
fn series_import_then_check_finds_the_shadow_hazard() {
    let tmp = tempfile::tempdir().unwrap();
    let (v1, v2) = (tmp.path().join("v1.c"), tmp.path().join("v2.c"));
    std::fs::write(&v1, V1).unwrap();
    std::fs::write(&v2, V2).unwrap();
    let out = tmp.path().join("series.json");
    Command::cargo_bin("klpcheck")
        .unwrap()
        .arg("import")
        .arg("--series")
        .args([&v1, &v2])
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let text = std::fs::read_to_string(&out).unwrap();
    let spec: klp_model::spec::Spec = serde_json::from_str(&text).unwrap();
    // The routes between the versions are plans: v1 -> v2 and back.
    let plans: Vec<&String> = spec.plans.keys().collect();
    assert_eq!(plans, ["downgrade-v2-to-v1", "upgrade-v1-to-v2"]);
    let run = Command::cargo_bin("klpcheck")
        .unwrap()
        .args(["check", "--quiet", "--format", "json"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let line = run.stdout.split(|b| *b == b'\n').next().unwrap();
    let report: serde_json::Value = serde_json::from_slice(line).unwrap();
    let prop = report["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "shadow-no-use-after-free")
        .unwrap();
    assert_eq!(prop["status"], "violated");
    let last = prop["trace"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .to_string();
    assert!(last.contains("use_it") && last.contains("v2"), "{last}");
}

#[test]
fn bad_input_exits_2_with_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        (
            "prose.c",
            "Nothing here is C ]]] {{ .\n".to_string(),
            "prose.c:1:",
            "not C",
        ),
        (
            "nopatch.c",
            "#include <linux/livepatch.h>\nMODULE_INFO(livepatch, \"Y\");\n".to_string(),
            "nopatch.c:2:1",
            "no `struct klp_patch`",
        ),
        (
            "cb.c",
            V1.replace(
                ".funcs = funcs, }",
                ".funcs = funcs, .callbacks = { .post_patch = gone_cb, }, }",
            ),
            "cb.c:6:",
            "unresolved callback",
        ),
    ];
    for (name, text, loc, what) in cases {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        let out = Command::cargo_bin("klpcheck")
            .unwrap()
            .arg("import")
            .arg(&p)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(loc) && err.contains(what), "{name}: {err}");
    }
}
