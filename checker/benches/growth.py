#!/usr/bin/env python3
"""How the state space grows: variants of the bench scenario
(specs/bench/bench-replace-3tasks.json) with more or fewer tasks, CPUs,
patches, each checked by the native engine at 2 threads
(`klpcheck check --format json` stats; peak RSS from GNU time), safety only
with and without symmetry reduction, and the default check (safety,
coverage, liveness) with symmetry. A run that does not finish within the
timeout prints its bound. Prints a Markdown table.

    usage: checker/benches/growth.py [TIMEOUT_SECONDS]   (default 60)
"""
import copy, json, os, subprocess, sys, tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
TIMEOUT = sys.argv[1] if len(sys.argv) > 1 else "60"
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
        json.dump(spec, open(path, "w"))
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


ROWS = [("tasks", dict(tasks=t)) for t in (1, 2, 3, 4, 5)] + \
       [("cpus", dict(cpus=c)) for c in (1, 3)] + \
       [("patches", dict(patches=p)) for p in (1, 2)]

subprocess.run(["cargo", "build", "--release", "-q", "-p", "klp-checker"], cwd=ROOT, check=True)
print("| variant | unique states (symmetry) | s | MiB | unique states (no symmetry) | s | MiB | default check s | MiB |")
print("|---|---|---|---|---|---|---|---|---|")
for what, kw in ROWS:
    spec = variant(**kw)
    sym = run(spec, "--no-liveness", "--no-coverage")
    nosym = run(spec, "--no-liveness", "--no-coverage", "--no-symmetry")
    default = run(spec)
    label = ", ".join(f"{k} {v}" for k, v in {"tasks": 3, "cpus": 2, "patches": 3, **{what: list(kw.values())[0]}}.items())
    print(f"| {label} | {sym[0]} | {sym[1]} | {sym[2]} | {nosym[0]} | {nosym[1]} | {nosym[2]} | {default[1]} | {default[2]} |", flush=True)
