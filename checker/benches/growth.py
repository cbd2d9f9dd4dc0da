#!/usr/bin/env python3
"""How the state space grows: variants of the bench scenario
(specs/bench/bench-replace-3tasks.json) with more or fewer tasks, CPUs,
patches, each checked by the native engine at 2 threads
(`klpcheck check --format json` stats; peak RSS from GNU time), safety only
with and without symmetry reduction, and the default check (safety,
coverage, liveness) with symmetry. A run that does not finish within the
timeout prints its bound. Prints a Markdown table.

    usage: checker/benches/growth.py [TIMEOUT_SECONDS] [--more-tasks]
      TIMEOUT_SECONDS  each run's --timeout (default 60)
      --more-tasks     instead, 6, 7 and 8 tasks with symmetry only (the
                       default check for 6 and 7; use a TIMEOUT of 600)
"""
import copy, json, os, subprocess, sys, tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
ARGS = [a for a in sys.argv[1:] if a != "--more-tasks"]
MORE = "--more-tasks" in sys.argv[1:]
TIMEOUT = ARGS[0] if ARGS else "60"
BIN = os.path.join(ROOT, "target", "release", "klpcheck")
BASE = json.load(open(os.path.join(ROOT, "specs", "bench", "bench-replace-3tasks.json")))


def variant(tasks=3, cpus=2, patches=3):
    s = copy.deepcopy(BASE)
    s["name"] = f"growth-t{tasks}-c{cpus}-p{patches}"
    s.pop("expected_unique_states", None)
    s["tasks"]["count"] = tasks
    s["cpus"] = cpus
    s["patches"] = dict(list(s["patches"].items())[:patches])
    return s


def run(spec, *flags):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, spec["name"] + ".json")
        with open(path, "w") as f:
            json.dump(spec, f)
        timef = os.path.join(d, "time")
        p = subprocess.run(
            ["/usr/bin/time", "-o", timef, "-f", "%M", BIN, "check", path, "--threads", "2",
             "--timeout", TIMEOUT, "--allow-incomplete", "--quiet", "--format", "json", *flags],
            capture_output=True, text=True)
        mem = int(open(timef).read().split()[-1]) // 1024
        r = json.loads(p.stdout.splitlines()[0])
        s = r["stats"]
        done = "" if r["complete"] else f" (stopped at {TIMEOUT} s)"
        return f'{s["unique_states"]:,}{done}', f'{s["seconds"]:.2f}', mem


def label(tasks=3, cpus=2, patches=3):
    return f"tasks {tasks}, cpus {cpus}, patches {patches}"


subprocess.run(["cargo", "build", "--release", "-q", "-p", "klp-checker"], cwd=ROOT, check=True)
if MORE:
    print("| variant | unique states (symmetry) | s | MiB | default check s | MiB |")
    print("|---|---|---|---|---|---|")
    for tasks, default in ((6, True), (7, True), (8, False)):
        spec = variant(tasks=tasks)
        sym = run(spec, "--no-liveness", "--no-coverage")
        d = run(spec) if default else ("", "not run", "")
        print(f"| {label(tasks=tasks)} | {sym[0]} | {sym[1]} | {sym[2]} | {d[1]} | {d[2]} |", flush=True)
    sys.exit(0)

ROWS = [dict(tasks=t) for t in (1, 2, 3, 4, 5)] + [dict(cpus=c) for c in (1, 3)] + \
       [dict(patches=p) for p in (1, 2)]
print("| variant | unique states (symmetry) | s | MiB | unique states (no symmetry) | s | MiB | default check s | MiB |")
print("|---|---|---|---|---|---|---|---|---|")
for kw in ROWS:
    spec = variant(**kw)
    sym = run(spec, "--no-liveness", "--no-coverage")
    nosym = run(spec, "--no-liveness", "--no-coverage", "--no-symmetry")
    default = run(spec)
    print(f"| {label(**kw)} | {sym[0]} | {sym[1]} | {sym[2]} | {nosym[0]} | {nosym[1]} | {nosym[2]} | {default[1]} | {default[2]} |", flush=True)
