#!/usr/bin/env python3
"""Write the concurrency judge cases of lab/cases/7.2/ (their steps; the expected events are
the real kernel's, written by `lab/run --kernel 7.2 --record lab/cases/7.2/*.json`).

  lab/tools/cases-7.2.py            (re)writes the steps, keeps recorded expected_events

The cases follow the audit's runs (shared/reference/model-audit-2026-12.md, section 3):
  lab72-01 / -02 / -03   e1: shadow use-after-free across an atomic replace (one run with a
                         200 ms pre_patch sleep; 15 load cycles without and with the sleep)
  lab72-04               e4: back-to-back insmods while the first transition is open
  lab72-05 / -06         e2: reversed disable of a patch under another patch, with a kprobe
                         on klp_check_stack_func (issue 12); -06 is the control without P2
"""
import json
import os

LAB = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIR = os.path.join(LAB, "cases", "7.2")
TARGET = "test_klp_lab_conc_target"


def patch(module, funcs, replace=False, callbacks=None, states=None):
    return {"module": module, "replace": replace, "objects": [TARGET],
            "funcs": [dict(object=TARGET, **f) for f in funcs],
            "callbacks": callbacks or {}, "states": states or []}


SHADOW = {
    "P1": patch("test_klp_lab_shadow_p1",
                [{"old": "klp_lab_f", "new": "lab_p1_klp_lab_f",
                  "effect": "frees shadow <0x4c5041, 7> when it finds one (counts in param frees)"}],
                states=[{"id": 1, "version": 0}]),
    "P2": patch("test_klp_lab_shadow_p2",
                [{"old": "klp_lab_f", "new": "lab_p2_klp_lab_f",
                  "effect": "needs shadow <0x4c5041, 7> (counts calls without it in param missing)"}],
                replace=True,
                callbacks={TARGET: {"pre_patch": "klp_shadow_get_or_alloc(<0x4c5041, 7>); msleep(sleep_ms)",
                                    "post_patch": "logs whether the shadow is present",
                                    "post_unpatch": "klp_shadow_free(<0x4c5041, 7>)"}},
                states=[{"id": 1, "version": 1}]),
}
STACK = {
    "P1": patch("test_klp_lab_stack_p1",
                [{"old": "klp_lab_h", "new": "lab_stack_p1_klp_lab_h", "effect": "none (never called)"},
                 {"old": "klp_lab_g", "new": "lab_stack_p1_klp_lab_g",
                  "effect": "sleeps while param block is set (the target's kthread calls klp_lab_g every 50 ms)"}]),
    "P2": patch("test_klp_lab_stack_p2",
                [{"old": "klp_lab_h", "new": "lab_stack_p2_klp_lab_h", "effect": "none (never called)"}]),
}


def st(op, **args):
    return {"op": op, "args": args}


def hammers():
    return [st("start_workload", name="hammer1", program="klp_hammer", args=["/proc/klp_lab_f"]),
            st("start_workload", name="hammer2", program="klp_hammer", args=["/proc/klp_lab_f"])]


def stop_hammers():
    return [st("stop_workload", name="hammer1"), st("stop_workload", name="hammer2")]


def shadow_once(sleep_ms):
    return ([st("load_module", module=TARGET), st("load_livepatch", patch="P1")] + hammers() +
            [st("sleep", seconds=1),
             st("load_livepatch_nowait", patch="P2", params={"sleep_ms": sleep_ms}),
             st("read_patch_state", name="hammer1"), st("read_patch_state", name="hammer2"),
             st("show_state"),
             st("wait_transition", patch="P2", value=0),
             st("sleep", seconds=1),
             st("show_param", module="P1", param="frees"), st("show_param", module="P2", param="missing")] +
            stop_hammers() +
            [st("wait_livepatch_gone", patch="P1"), st("unload_module", module="P1"),
             st("disable_livepatch", patch="P2"), st("unload_module", module="P2"),
             st("unload_module", module=TARGET)])


def shadow_cycles(sleep_ms, n=15):
    steps = [st("load_module", module=TARGET)] + hammers()
    for _ in range(n):
        steps += [st("load_livepatch", patch="P1"), st("sleep", seconds=0.3),
                  st("load_livepatch", patch="P2", params={"sleep_ms": sleep_ms}),
                  st("show_param", module="P1", param="frees"),
                  st("show_param", module="P2", param="missing"),
                  st("wait_livepatch_gone", patch="P1"),
                  st("disable_livepatch", patch="P2"),
                  st("unload_module", module="P2"), st("unload_module", module="P1")]
    return steps + stop_hammers() + [st("unload_module", module=TARGET)]


def back_to_back(n=5):
    steps = [st("load_module", module=TARGET),
             st("set_dynamic_debug", control="func klp_try_switch_task +p")]
    for _ in range(n):
        steps += [st("load_livepatch_nowait", patch="P1"),
                  st("load_livepatch_expect_failure", patch="P2", expected_errno="EBUSY"),
                  st("show_state"),
                  st("wait_transition", patch="P1", value=0),
                  st("disable_livepatch", patch="P1"), st("unload_module", module="P1")]
    return steps + [st("set_dynamic_debug", control="func klp_try_switch_task -p"),
                    st("unload_module", module=TARGET)]


def reversed_disable(with_p2):
    """P1 patches klp_lab_h and klp_lab_g, P2 klp_lab_h on top; the kthread sleeps in P1's
    klp_lab_g, so P1's disable stalls; echo 1 reverses it (target PATCHED). Then: what the
    probe saw, which tasks the retries report, and echo 0 (a second reverse, or a disable if
    the reversed transition had completed) takes P1 away."""
    steps = [st("load_module", module=TARGET), st("load_module", module="test_klp_lab_oob"),
             st("load_livepatch", patch="P1")]
    if with_p2:
        steps.append(st("load_livepatch", patch="P2"))
    steps += [st("set_param", module="P1", param="block", value="Y"), st("sleep", seconds=1),
              st("write_enabled", patch="P1", value=0), st("sleep", seconds=3), st("show_state"),
              st("write_enabled", patch="P1", value=1), st("sleep", seconds=10), st("show_state"),
              st("set_dynamic_debug", control="func klp_try_switch_task +p"), st("sleep", seconds=2),
              st("set_dynamic_debug", control="func klp_try_switch_task -p"),
              st("show_param", module="test_klp_lab_oob", param="oob"),
              st("set_param", module="P1", param="block", value="N"), st("sleep", seconds=3),
              st("show_state"),
              st("write_enabled", patch="P1", value=0), st("wait_livepatch_gone", patch="P1"),
              st("unload_module", module="P1")]
    if with_p2:
        steps += [st("disable_livepatch", patch="P2"), st("unload_module", module="P2")]
    return steps + [st("unload_module", module="test_klp_lab_oob"), st("unload_module", module=TARGET)]


SHADOW_VARY = ["param(P1,frees,", "param(P2,missing,", "shadow_check(P2,post_patch,", "patch_state("]
CASES = {
    "lab72-01-shadow-uaf-replace-sleep200": dict(
        title="Shadow use-after-free across an atomic replace, pre_patch sleeping 200 ms (audit e1_s200)",
        patches=SHADOW, steps=shadow_once(200), varying_events=SHADOW_VARY),
    "lab72-02-shadow-uaf-15-cycles": dict(
        title="Shadow use-after-free: 15 load cycles of P1 then P2 (replace) without a sleep (audit e1loop)",
        patches=SHADOW, steps=shadow_cycles(0), varying_events=SHADOW_VARY),
    "lab72-03-shadow-uaf-15-cycles-sleep200": dict(
        title="Shadow use-after-free: 15 load cycles with a 200 ms pre_patch sleep",
        patches=SHADOW, steps=shadow_cycles(200), varying_events=SHADOW_VARY),
    "lab72-04-back-to-back-insmod": dict(
        title="Back-to-back insmods on 2 CPUs: the second insmod while the first transition is open (audit e4), 5 times",
        patches=STACK, steps=back_to_back(), ignored_events=["task_running(", "task_sleeping("],
        outcome_varies="the second insmod gets EBUSY only while the first transition is still open; "
                       "when the first try inside insmod finds no running task it completes at once "
                       "and the second insmod loads"),
    "lab72-05-reversed-disable-oob-read": dict(
        title="Reversed disable of the bottom patch of a two-entry func_stack, kprobe on klp_check_stack_func (issue 12, audit e2)",
        patches=STACK, steps=reversed_disable(True),
        varying_events=["param(test_klp_lab_oob,oob,", "oob_count("],
        ignored_events=["task_running(", "task_sleeping("],
        outcome_varies="the range the kernel checks comes from the 8 bytes 88 bytes before the klp_ops "
                       "allocation (a slab neighbour): 0 makes every task fail the check and the "
                       "reversal stalls; a pointer makes the range wrap and the reversal completes"),
    "lab72-06-reversed-disable-control": dict(
        title="Control of lab72-05 without P2: a singular func_stack, no out-of-bounds read expected (audit e2c)",
        patches={"P1": STACK["P1"]}, steps=reversed_disable(False),
        varying_events=["oob_count("], ignored_events=["task_running(", "task_sleeping("]),
}


def main():
    os.makedirs(DIR, exist_ok=True)
    for name, c in CASES.items():
        path = os.path.join(DIR, name + ".json")
        old = json.load(open(path)) if os.path.exists(path) else {}
        d = {"id": name, "kernel": "7.2", "smp": 2, "title": c["title"], "patches": c["patches"],
             "steps": c["steps"]}
        for k in ("varying_events", "ignored_events", "outcome_varies"):
            if k in c:
                d[k] = c[k]
        d["expected_events"] = old.get("expected_events", [])
        with open(path, "w") as f:
            json.dump(d, f, indent=2)
            f.write("\n")
        print(path)


if __name__ == "__main__":
    main()
