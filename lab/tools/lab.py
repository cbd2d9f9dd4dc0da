#!/usr/bin/env python3
"""klpcheck real-kernel lab: case translation, QEMU driver, log -> event mapper, verdicts.

Called by lab/run after the packages, the modules and the base initramfs are ready.
Stdlib only.

  lab.py run [--strict] [--record] CASE_FILE...
  lab.py map LOG_FILE CASE_FILE        (print the events of a saved filtered log)
"""
import json
import os
import re
import shlex
import subprocess
import sys
import time

LAB = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("LAB_BUILD") or os.path.join(LAB, "build")
OUT = os.environ.get("LAB_OUT") or os.path.join(LAB, "out")
RESULTS = os.path.join(LAB, "results") if os.environ.get("LAB_KERNEL_SERIES", "6.1") == "6.1" \
    else os.path.join(LAB, "results", os.environ["LAB_KERNEL_SERIES"])
SERIES = os.environ.get("LAB_KERNEL_SERIES", "6.1")
# version differences of the oracle on this kernel series (6.1: known-differences.json)
KNOWN = os.path.join(LAB, "known-differences.json" if SERIES == "6.1"
                     else "known-differences-%s.json" % SERIES)


class Unsupported(Exception):
    pass


# --------------------------------------------------------------------------- cases

def load_case(path):
    with open(path) as f:
        d = json.load(f)
    d["_path"] = path
    d["_name"] = os.path.splitext(os.path.basename(path))[0]
    d.setdefault("id", d["_name"])
    d.setdefault("patches", {})
    return d


def modname(case, x):
    """alias (P1) -> module name; anything else unchanged"""
    p = case["patches"].get(x)
    return p["module"] if p else x


def fmt_val(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    return str(v)


def params_of(args):
    """module parameters; a value "<...pids>" is the pid list of the running getpid loops
    (test-syscall.sh's klp_pids=$pid_list), filled in by the guest"""
    out = []
    for k, v in (args.get("params") or {}).items():
        v = fmt_val(v)
        if re.match(r"^<.*pids>$", v):
            v = "@PIDS@"
        out.append("%s=%s" % (k, v))
    return out


def proc_text(case, spec, mod_default):
    m = re.match(r"^(P\d+) output$", spec)
    if m:
        return "%s: this has been live patched" % modname(case, m.group(1))
    if spec == "original output":
        return None
    raise Unsupported("assert_proc text %r" % spec)


def translate(case, available):
    """-> (list of shell lines, set of modules used). Raises Unsupported."""
    lines = []
    used = set()
    q = shlex.quote

    def need(m):
        used.add(m)
        if m not in available:
            raise Unsupported("module %s is not built for this kernel" % m)
        return m

    for i, st in enumerate(case["steps"], 1):
        op, a = st["op"], st.get("args", {})
        pat = a.get("patch")
        P = modname(case, pat) if pat else None
        if op == "load_livepatch":
            cmd = ["load_lp", need(P)] + params_of(a)
        elif op == "load_livepatch_nowait":
            cmd = ["load_lp_nowait", need(P)] + params_of(a)
        elif op == "wait_transition_stalled":
            cmd = ["wait_transition", P, "1"]
        elif op == "wait_transition":
            cmd = ["wait_transition", P, str(a.get("value", 0)), str(a.get("timeout", 60))]
        elif op == "wait_livepatch_gone":
            cmd = ["wait_gone", P]
        elif op == "load_livepatch_expect_failure":
            cmd = ["load_failing_mod", need(P), a.get("expected_errno", "")] + params_of(a)
        elif op == "load_module":
            cmd = ["load_mod", need(modname(case, a["module"]))] + params_of(a)
        elif op == "load_module_expect_failure":
            cmd = ["load_failing_mod", need(modname(case, a["module"])),
                   a.get("expected_errno", "")] + params_of(a)
        elif op == "unload_module":
            cmd = ["unload_mod", modname(case, a["module"])]
        elif op in ("unload_module_expect_failure", "try_unload_module"):
            cmd = ["try_unload", modname(case, a["module"]), a.get("expected_errno", "")]
        elif op == "disable_livepatch":
            cmd = ["disable_lp", P]
        elif op == "write_enabled":
            cmd = ["write_attr", P, "enabled", str(a["value"]), a.get("expect_errno", "")]
        elif op == "force_livepatch":
            cmd = ["write_attr", P, "force", "1", a.get("expect_errno", "")]
        elif op == "set_pre_patch_ret":
            cmd = ["set_pre_patch_ret", P, str(a["value"])]
        elif op == "set_param":
            cmd = ["set_param", modname(case, a["module"]), a["param"], fmt_val(a["value"])]
        elif op == "observe":
            cmd = ["observe"] + list(a["files"])
        elif op == "assert_proc":
            first = next(iter(case["patches"].values()))["module"] if case["patches"] else ""
            if "equals" in a:
                t = proc_text(case, a["equals"], first)
                cmd = ["assert_file", a["file"], "eq" if t is not None else "ne",
                       t if t is not None else "%s: this has been live patched" % first]
            else:
                cmd = ["assert_file", a["file"], "ne", proc_text(case, a["not_equals"], first)]
            if a.get("log_on_success"):
                cmd.append(a["log_on_success"])
        elif op == "assert_livepatch_count":
            cmd = ["assert_lp_count", str(a["expected"])]
        elif op == "wait_livepatch_count":
            cmd = ["wait_lp_count", str(a["expected"])]
        elif op == "check_sysfs":
            cmd = ["check_sysfs", P, a.get("path", ""), a.get("rights", "-"),
                   fmt_val(a["value"]) if "value" in a else "-"]
        elif op == "set_ftrace_enabled":
            cmd = ["set_ftrace_enabled", str(a["value"]), "1" if a.get("may_fail") else "0"]
        elif op == "trace_function":
            cmd = ["trace_function", a["function"]]
        elif op == "check_traced_functions":
            cmd = ["check_traced"] + list(a["functions"])
        elif op == "enable_kprobes":
            cmd = ["enable_kprobes"]
        elif op == "show_state":
            cmd = ["show_state"]
        elif op == "sleep":
            cmd = ["sleep_s", str(a["seconds"])]
        # test-syscall.sh: getpid loops (test_klp-call_getpid), one per CPU up to 128
        elif op == "spawn_getpid_loops":
            cmd = ["spawn_getpid_loops"]
        elif op == "wait_npids_zero":
            cmd = ["wait_npids_zero"]
        elif op == "log_npids":
            cmd = ["log_npids"]
        elif op == "kill_getpid_loops":
            cmd = ["kill_getpid_loops"]
        # workloads: user programs (lab/guest/*.c, static) running while the steps go on
        elif op == "start_workload":
            cmd = ["start_workload", a["name"], a["program"]] + [str(x) for x in a.get("args", [])]
        elif op == "stop_workload":
            cmd = ["stop_workload", a["name"]]
        elif op == "read_patch_state":
            cmd = ["read_patch_state", a["name"]]
        elif op == "read_forked_patch_state":
            cmd = ["read_forked_patch_state"]
        elif op == "show_param":
            cmd = ["show_param", modname(case, a["module"]), a["param"]]
        elif op == "set_dynamic_debug":
            cmd = ["set_dyndbg", a["control"]]
        else:
            raise Unsupported("step op %s is not implemented by the lab" % op)
        lines.append("run_step %d %s %s" % (i, op, " ".join(q(c) for c in cmd)))
    return lines, used


# --------------------------------------------------------------------------- log -> events

TS = re.compile(r"^\[\s*[0-9.]+\]\s?(\[[TC]\d+\]\s?)?")
ERRNO = [("Invalid argument", "EINVAL"), ("Invalid parameters", "EINVAL"),
         ("No such device", "ENODEV"), ("Device or resource busy", "EBUSY"),
         ("Resource temporarily unavailable", "EAGAIN"), ("Operation not permitted", "EPERM"),
         ("File exists", "EEXIST"), ("already loaded", "EEXIST"), ("No such file", "ENOENT"),
         ("Cannot allocate memory", "ENOMEM")]
OBSERVE_FILE = {"cmdline_proc_show": "cmdline", "meminfo_proc_show": "meminfo",
                "test_klp_mod_target_show": "mod_target"}
OBSERVE_DEFAULT = {"test_klp_livepatch": "cmdline", "test_klp_atomic_replace": "meminfo",
                   "test_klp_mod_patch": "mod_target"}


def errname(text):
    for k, v in ERRNO:
        if k in text:
            return v
    return "UNKNOWN(%s)" % text.strip()


# The lab's own command lines, kept whatever the module is called (the
# selftests' filter keeps them because their modules are test_klp_*; the
# kernel's samples are livepatch_*).
CMD = re.compile(r"^% (?:(?:insmod|modprobe|rmmod) |echo \S+ > /sys/(?:kernel/livepatch|module)/)")


def filter_log(raw_lines):
    """the selftests' check_result filter, plus the lab's command lines"""
    out = []
    for l in raw_lines:
        l = l.rstrip("\r\n")
        if "livepatch:" not in l and "test_klp" not in l and not CMD.match(TS.sub("", l, count=1)):
            continue
        if re.search(r"(tainting|taints) kernel", l):
            continue
        out.append(TS.sub("", l, count=1))
    return out


def map_events(case, lines):
    alias = {p["module"]: a for a, p in case["patches"].items()}
    obs_file = {}
    for a, p in case["patches"].items():
        f = OBSERVE_DEFAULT.get(p["module"], "proc")
        for fn in p.get("funcs", []):
            f = OBSERVE_FILE.get(fn.get("old"), f)
        obs_file[p["module"]] = f
    A = lambda m: alias.get(m, m)
    cur = [None]
    ev = []

    def e(s, patch=None):
        if patch:
            cur[0] = patch
        ev.append(s)

    for l in lines:
        m = re.match(r"^% (?:modprobe|insmod) (?:\S*/)?([\w-]+?)(?:\.ko)?((?: \S+)*)$", l)
        if m:
            args = [re.sub(r"^klp_pids=[0-9,]+$", "klp_pids=<pids>", x) for x in m.group(2).split()]
            e("cmd_load(%s)" % ",".join([A(m.group(1))] + args))
            continue
        m = re.match(r"^% rmmod (\S+)$", l)
        if m:
            e("cmd_unload(%s)" % A(m.group(1)))
            continue
        m = re.match(r"^% echo (\S+) > /sys/kernel/livepatch/([\w-]+)/(\w+)$", l)
        if m:
            v, p, attr = m.groups()
            if attr == "enabled" and v == "0":
                e("cmd_disable(%s)" % A(p))
            elif attr == "enabled" and v == "1":
                e("cmd_enable(%s)" % A(p))
            elif attr == "force" and v == "1":
                e("cmd_force(%s)" % A(p))
            else:
                e("cmd_write(%s,%s,%s)" % (A(p), attr, v))
            continue
        m = re.match(r"^% echo (\S+) > /sys/module/([\w-]+)/parameters/(\w+)$", l)
        if m:
            e("cmd_set_param(%s,%s,%s)" % (A(m.group(2)), m.group(3), m.group(1)))
            continue
        m = re.match(r"^livepatch: enabling patch '(.*)'$", l)
        if m:
            e("enabling(%s)" % A(m.group(1)), A(m.group(1)))
            continue
        m = re.match(r"^livepatch: '(.*)': (initializing|starting|completing) (patching|unpatching) transition$", l)
        if m:
            kind = {"initializing": "init", "starting": "start", "completing": "completing"}[m.group(2)]
            e("transition_%s(%s,%s)" % (kind, A(m.group(1)), m.group(3)), A(m.group(1)))
            continue
        m = re.match(r"^livepatch: '(.*)': (patching|unpatching) complete$", l)
        if m:
            e("transition_complete(%s,%s)" % (A(m.group(1)), m.group(2)), A(m.group(1)))
            continue
        m = re.match(r"^livepatch: '(.*)': reversing transition from (\w+) to (\w+)$", l)
        if m:
            e("transition_reverse(%s,%s,%s)" % (A(m.group(1)), m.group(2), m.group(3)), A(m.group(1)))
            continue
        m = re.match(r"^livepatch: '(.*)': canceling patching transition, going to unpatch$", l)
        if m:
            e("transition_cancel(%s)" % A(m.group(1)), A(m.group(1)))
            continue
        m = re.match(r"^livepatch: pre-patch callback failed for object '(.*)'$", l)
        if m:
            e("pre_patch_failed(%s,%s)" % (cur[0], m.group(1)))
            continue
        m = re.match(r"^livepatch: failed to patch object '(.*)'$", l)
        if m:
            e("patch_object_failed(%s,%s)" % (cur[0], m.group(1)))
            continue
        m = re.match(r"^livepatch: failed to register ftrace handler for function '(.*)' \((-?\d+)\)$", l)
        if m:
            e("ftrace_register_failed(%s,%s,%s)" % (cur[0], m.group(1), m.group(2)))
            continue
        m = re.match(r"^livepatch: failed to enable patch '(.*)'$", l)
        if m:
            e("enable_failed(%s)" % A(m.group(1)), A(m.group(1)))
            continue
        m = re.match(r"^livepatch: applying patch '(.*)' to loading module '(.*)'$", l)
        if m:
            e("module_apply(%s,%s)" % (A(m.group(1)), A(m.group(2))), A(m.group(1)))
            continue
        m = re.match(r"^livepatch: reverting patch '(.*)' on unloading module '(.*)'$", l)
        if m:
            e("module_revert(%s,%s)" % (A(m.group(1)), A(m.group(2))), A(m.group(1)))
            continue
        m = re.match(r"^livepatch: patch '(.*)' failed for module '(.*)', refusing to load module '(.*)'$", l)
        if m:
            e("module_refused(%s,%s)" % (A(m.group(1)), A(m.group(2))), A(m.group(1)))
            continue
        m = re.match(r"^livepatch: failed to apply patch '(.*)' to module '(.*)' \((-?\d+)\)$", l)
        if m:
            e("module_apply_failed(%s,%s,%s)" % (A(m.group(1)), A(m.group(2)), m.group(3)), A(m.group(1)))
            continue
        m = re.match(r"^livepatch: Livepatch patch \((.*)\) is not compatible with the already installed livepatches\.$", l)
        if m:
            e("incompatible(%s)" % A(m.group(1)))
            continue
        if l == "livepatch: forcing remaining tasks to the patched state":
            e("forcing(%s)" % cur[0])
            continue
        if l == "livepatch: signaling remaining tasks":
            e("signaling(%s)" % cur[0])
            continue
        m = re.match(r"^livepatch: kernel\.ftrace_enabled = (\d+)$", l)
        if m:
            e("sysctl(ftrace_enabled,%s)" % m.group(1))
            continue
        m = re.match(r'^livepatch: sysctl: setting key "kernel\.ftrace_enabled": (.*)$', l)
        if m:
            e("sysctl_failed(ftrace_enabled,%s)" % errname(m.group(1)))
            continue
        m = re.match(r"^test_klp_syscall: Remaining not livepatched processes: (\d+)$", l)
        if m:
            e("observe(npids_pending,%s)" % m.group(1))
            continue
        m = re.match(r"^livepatch: klp_try_switch_task: (\S+):(\d+) is (running|sleeping on function (\S+)|has an unreliable stack)$", l)
        if m:
            comm = re.sub(r"^swapper/\d+$", "swapper", m.group(1))
            comm = re.sub(r"^kworker/[\w:+-]*", "kworker", comm)
            if m.group(3) == "running":
                e("task_running(%s)" % comm)
            elif m.group(4):
                e("task_sleeping(%s,%s)" % (comm, m.group(4)))
            else:
                e("task_unreliable(%s)" % comm)
            continue
        m = re.match(r"^test_klp_lab: patch_state (\S+) (-?\d+)$", l)
        if m:
            e("patch_state(%s,%s)" % m.groups())
            continue
        m = re.match(r"^test_klp_lab: param ([\w-]+) (\w+) (\S+)$", l)
        if m:
            e("param(%s,%s,%s)" % (A(m.group(1)), m.group(2), m.group(3)))
            continue
        m = re.match(r"^test_klp_lab: workload (\S+) (started|stopped)$", l)
        if m:
            e("workload_%s(%s)" % ("start" if m.group(2) == "started" else "stop", m.group(1)))
            continue
        m = re.match(r"^([\w-]+): (pre|post)_(patch|unpatch): shadow (allocated|present|MISSING)$", l)
        if m:
            e("shadow_check(%s,%s_%s,%s)" % (A(m.group(1)), m.group(2), m.group(3), m.group(4)))
            continue
        m = re.match(r"^test_klp_lab_oob: (.*)$", l)
        if m:
            w = m.group(1)
            k = re.match(r"^probe on (\w+)$", w)
            if k:
                e("oob_probe(%s)" % k.group(1))
                continue
            k = re.match(r"^OOB: '([\w-]+)' (\w+): (\w+) is the last of (\d+) on its func_stack.*$", w)
            if k:
                e("oob_read(%s,%s,stack=%s)" % (A(k.group(1)), k.group(3), k.group(4)))
                continue
            k = re.match(r"^checks (\d+), out-of-bounds (\d+)$", w)
            if k:
                e("oob_count(checks=%s,oob=%s)" % k.groups())
                continue
        if l == "livepatch: ok":
            e("script_ok")
            continue
        m = re.match(r"^livepatch-lab: write error: ([\w-]+)/(\w+): (.*)$", l)
        if m:
            e("write_error(%s,%s,%s)" % (A(m.group(1)), m.group(2), errname(m.group(3))))
            continue
        m = re.match(r"^livepatch-lab: state:(.*)$", l)
        if m:
            for item in m.group(1).split(";"):
                w = item.split()
                if len(w) >= 2 and w[0] == "patch":
                    e("sysfs(%s,%s)" % (A(w[1]), ",".join(w[2:])))
                elif len(w) >= 2 and w[0] == "module":
                    e("module(%s,%s)" % (A(w[1]), ",".join(w[2:])))
            continue
        # userspace errors logged by the helpers (busybox insmod/rmmod, kmod)
        m = (re.match(r"^insmod: can't insert '(?:.*/)?([\w-]+)\.ko': (.*)$", l)
             or re.match(r"^insmod: ERROR: could not insert module (?:.*/)?([\w-]+)\.ko: (.*)$", l)
             or re.match(r"^modprobe: ERROR: could not insert '([\w-]+)': (.*)$", l))
        if m:
            e("load_error(%s,%s)" % (A(m.group(1)), errname(m.group(2))))
            continue
        m = re.match(r"^rmmod: .*'([\w-]+)'.*?: (.*)$", l)
        if m:
            e("unload_error(%s,%s)" % (A(m.group(1)), errname(m.group(2))))
            continue
        # module lines
        m = re.match(r"^([\w-]+): (pre|post)_(patch|unpatch)_callback: vmlinux$", l)
        if m:
            e("%s_%s(%s,vmlinux)" % (m.group(2), m.group(3), A(m.group(1))))
            continue
        m = re.match(r"^([\w-]+): (pre|post)_(patch|unpatch)_callback: ([\w-]+) -> \[MODULE_STATE_(\w+)\].*$", l)
        if m:
            e("%s_%s(%s,%s,%s)" % (m.group(2), m.group(3), A(m.group(1)), A(m.group(4)), m.group(5)))
            continue
        m = re.match(r"^([\w-]+): busymod_work_func (enter|exit)$", l)
        if m:
            e("busy_work_%s(%s)" % (m.group(2), A(m.group(1))))
            continue
        m = re.match(r"^([\w-]+): (?:patched_work_func|lab_busy_work_func)$", l)
        if m:
            e("patched_work(%s)" % A(m.group(1)))
            continue
        m = re.match(r"^([\w-]+): (?:lab_new_target_func|lab_stack_p1_klp_lab_g): (blocking|released)$", l)
        if m:
            e("new_func_%s(%s)" % ("block" if m.group(2) == "blocking" else "release", A(m.group(1))))
            continue
        m = re.match(r"^([\w-]+): ([\w-]+)_(init|exit)$", l)
        if m and m.group(1) == m.group(2):
            e("mod_%s(%s)" % (m.group(3), A(m.group(1))))
            continue
        m = re.match(r"^([\w-]+): this has been live patched$", l)
        if m:
            e("observe(%s,%s)" % (obs_file.get(m.group(1), OBSERVE_DEFAULT.get(m.group(1), "proc")), A(m.group(1))))
            continue
        st = [("allocate_loglevel_state: allocating space", "state_alloc"),
              ("allocate_loglevel_state: space to store console_loglevel already allocated", "state_alloc_skip"),
              ("fix_console_loglevel: fixing", "state_fix"),
              ("fix_console_loglevel: taking over", "state_takeover"),
              ("restore_console_loglevel: restoring", "state_restore"),
              ("restore_console_loglevel: passing the console_loglevel change back", "state_passback"),
              ("free_loglevel_state: freeing", "state_free"),
              ("free_loglevel_state: keeping space", "state_keep")]
        m = re.match(r"^([\w-]+): (.*)$", l)
        hit = False
        if m:
            for pre, name in st:
                if m.group(2).startswith(pre):
                    e("%s(%s,1)" % (name, A(m.group(1))))
                    hit = True
                    break
        if hit:
            continue
        # shadow variables (test_klp_shadow_vars)
        s = re.sub(r"^test_klp_shadow_vars: ", "", l)
        m = re.match(r"^klp_shadow_get\(obj=(PTR\d+), id=(0x\w+)\) = (PTR\d+)$", s)
        if m:
            e("shadow_get(%s,%s,%s)" % m.groups())
            continue
        m = re.match(r"^klp_shadow_(get_or_alloc|alloc)\(obj=(PTR\d+), id=(0x\w+), size=\w+, gfp_flags=\w+\), ctor=PTR\d+, ctor_data=(PTR\d+) = (PTR\d+)$", s)
        if m:
            e("shadow_%s(%s,%s,%s,%s)" % m.groups())
            continue
        m = re.match(r"^shadow_ctor: (PTR\d+) -> (PTR\d+)$", s)
        if m:
            e("shadow_ctor(%s,%s)" % m.groups())
            continue
        m = re.match(r"^\s*got expected NULL result$", s)
        if m:
            e("shadow_expect_null")
            continue
        m = re.match(r"^\s*got expected (PTR\d+) -> (PTR\d+) result$", s)
        if m:
            e("shadow_expect(%s,%s)" % m.groups())
            continue
        m = re.match(r"^klp_shadow_free\(obj=(PTR\d+), id=(0x\w+), dtor=(PTR\d+)\)$", s)
        if m:
            e("shadow_free(%s,%s,%s)" % m.groups())
            continue
        m = re.match(r"^shadow_dtor\(obj=(PTR\d+), shadow_data=(PTR\d+)\)$", s)
        if m:
            e("shadow_dtor(%s,%s)" % m.groups())
            continue
        m = re.match(r"^klp_shadow_free_all\(id=(0x\w+), dtor=(PTR\d+)\)$", s)
        if m:
            e("shadow_free_all(%s,%s)" % m.groups())
            continue
        e("unmapped(%s)" % l)
    return ev


# --------------------------------------------------------------------------- QEMU

_KVM_OK = None


def kvm_usable():
    """True when /dev/kvm opens and answers KVM_GET_API_VERSION (12) and KVM_CREATE_VM."""
    global _KVM_OK
    if _KVM_OK is None:
        _KVM_OK = False
        try:
            import fcntl
            fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
            try:
                if fcntl.ioctl(fd, 0xAE00) == 12:		# KVM_GET_API_VERSION
                    vm = fcntl.ioctl(fd, 0xAE01, 0)		# KVM_CREATE_VM
                    os.close(vm)
                    _KVM_OK = True
            finally:
                os.close(fd)
        except OSError:
            pass
    return _KVM_OK


def choose_accel():
    """-> (accel, cpu).  LAB_ACCEL=kvm|tcg forces one.  By default (auto) KVM is used only when
    /dev/kvm answers KVM_CREATE_VM *and* a probe boot of this kernel under KVM reaches /init
    (the result is cached in BUILD/kvm-probe); else TCG.  On the 2-core development machine
    KVM_CREATE_VM works but no guest kernel boots (7.2: "KVM internal error ... emulation
    failure" on a BMI2 shlx in the decompressor; 6.1: hangs after "Probing EDD"; `-cpu host`
    and `max` abort on MSR 0x10a), so auto falls back to TCG there.  LAB_TCG=single:
    single-threaded TCG."""
    want = os.environ.get("LAB_ACCEL", "auto")
    tcg = ("tcg,thread=single" if os.environ.get("LAB_TCG") == "single" else "tcg"), "max"
    if want == "tcg":
        return tcg
    if want == "kvm":
        return "kvm", "host,-arch-capabilities"
    if kvm_usable() and kvm_boots():
        return "kvm", "host,-arch-capabilities"
    return tcg


_KVM_BOOTS = None


def kvm_boots():
    global _KVM_BOOTS
    if _KVM_BOOTS is not None:
        return _KVM_BOOTS
    probe = os.path.join(BUILD, "kvm-probe")
    key = "%s %d" % (os.environ["LAB_KERNEL"], os.path.getsize(os.environ["LAB_KERNEL"]))
    if os.path.exists(probe):
        k, _, v = open(probe).read().strip().rpartition(" ")
        if k == key:
            _KVM_BOOTS = v == "yes"
            return _KVM_BOOTS
    _KVM_BOOTS = True		# for the probe boot itself
    os.environ["LAB_ACCEL"] = "kvm"
    try:
        # a KVM boot reaches /init in a few seconds; a failing one hangs (QEMU keeps the
        # vCPU stopped after "KVM internal error") until this timeout
        text, dt, _ = run_boot(os.path.join(BUILD, "kvm-probe-boot"), "# empty: probe\n", 20, quiet=True)
    finally:
        os.environ.pop("LAB_ACCEL")
    _KVM_BOOTS = "@@DONE" in text
    print("lab: KVM probe boot: %s (%.1f s); cached in %s" % (
        "works" if _KVM_BOOTS else "no guest boot, using TCG", dt, probe), flush=True)
    with open(probe, "w") as f:
        f.write("%s %s\n" % (key, "yes" if _KVM_BOOTS else "no"))
    return _KVM_BOOTS


def run_boot(bootdir, cases_sh, timeout, quiet=False):
    os.makedirs(bootdir, exist_ok=True)
    with open(os.path.join(bootdir, "cases.sh"), "w") as f:
        f.write(cases_sh)
    extra = subprocess.run("cd %s && echo cases.sh | cpio -o -H newc --quiet | gzip -1" % shlex.quote(bootdir),
                           shell=True, check=True, stdout=subprocess.PIPE).stdout
    initrd = os.path.join(bootdir, "initrd.gz")
    with open(os.path.join(BUILD, "base-initrd.gz"), "rb") as b, open(initrd, "wb") as o:
        o.write(b.read())
        o.write(extra)
    con, res = os.path.join(bootdir, "console.log"), os.path.join(bootdir, "results.txt")
    for p in (con, res):
        if os.path.exists(p):
            os.unlink(p)
    smp = os.environ.get("LAB_SMP", "2")
    # kernel-command-line words with '=' and no '.' reach /init as environment variables
    env = "LAB_SERIES=%s LAB_SMP=%s" % (SERIES, smp)
    accel, cpu = choose_accel()
    cmd = ["qemu-system-x86_64", "-accel", accel, "-cpu", cpu, "-m", "1024", "-smp", smp,
           "-nic", "none", "-display", "none", "-monitor", "none", "-no-reboot",
           "-serial", "file:" + con, "-serial", "file:" + res,
           "-kernel", os.environ["LAB_KERNEL"], "-initrd", initrd,
           "-append", "console=ttyS0 quiet panic=-1 log_buf_len=8M " + env]
    t0 = time.time()
    try:
        subprocess.run(cmd, timeout=timeout, stdin=subprocess.DEVNULL, check=False,
                       stderr=subprocess.DEVNULL if quiet else None)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
    dt = time.time() - t0
    try:
        with open(res, errors="replace") as f:
            text = f.read().replace("\r", "")
    except FileNotFoundError:
        text = ""
    return text, dt, timed_out


def parse_results(text):
    """-> (dict case -> {steps, raw, residue}, list order, done flag, abort flag)"""
    cases, order = {}, []
    cur = None
    in_log = False
    done = abort = False
    for line in text.split("\n"):
        if in_log:
            if line == "@@LOG-END":
                in_log = False
            else:
                cur["raw"].append(line)
            continue
        if line.startswith("@@CASE "):
            cur = {"steps": [], "raw": [], "residue": None, "ended": False}
            name = line[7:].strip()
            cases[name] = cur
            order.append(name)
        elif line.startswith("@@STEP ") and cur is not None:
            cur["steps"].append(line[7:])
        elif line == "@@LOG-BEGIN" and cur is not None:
            in_log = True
        elif line.startswith("@@RESIDUE") and cur is not None:
            cur["residue"] = line[10:].strip()
        elif line == "@@CASE-END" and cur is not None:
            cur["ended"] = True
        elif line.startswith("@@ABORT"):
            abort = True
        elif line == "@@DONE":
            done = True
    return cases, order, done, abort


# --------------------------------------------------------------------------- main

def normalize(case, events):
    """Events a concurrent case cannot fix: `ignored_events` (prefixes) are dropped, e.g. the
    per-try "task_running(" lines whose count depends on timing; `varying_events` (prefixes)
    keep their place but not their value, e.g. "param(P2,missing," (a counter)."""
    ign = case.get("ignored_events", [])
    var = case.get("varying_events", [])
    out = []
    for ev in events:
        if any(ev.startswith(p) for p in ign):
            continue
        for p in var:
            if ev.startswith(p):
                ev = p + "*)"
                break
        out.append(ev)
    return out


def first_divergence(exp, got):
    for i in range(max(len(exp), len(got))):
        a = exp[i] if i < len(exp) else "<end>"
        b = got[i] if i < len(got) else "<end>"
        if a != b:
            return "event %d: expected %s, got %s" % (i + 1, a, b)
    return None


def main_run(argv):
    strict = "--strict" in argv
    record = "--record" in argv
    files = [a for a in argv if not a.startswith("--")]
    os.makedirs(OUT, exist_ok=True)
    known = json.load(open(KNOWN)) if os.path.exists(KNOWN) else {}
    known = {k: v for k, v in known.items() if not k.startswith("_")}
    available = set(os.environ.get("LAB_MODULES", "").split())
    cases = [load_case(f) for f in files]
    names = [c["_name"] for c in cases]
    if len(set(names)) != len(names):
        sys.exit("lab: duplicate case names")
    byname = {c["_name"]: c for c in cases}
    verdict, detail = {}, {}
    todo = []
    for c in cases:
        try:
            lines, _ = translate(c, available)
            c["_sh"] = lines
            todo.append(c["_name"])
        except Unsupported as ex:
            c["_unsupported"] = str(ex)
            verdict[c["_name"]] = None
    results = {}
    retried = {}
    boot = 0
    boots = []
    while todo:
        boot += 1
        sh = ["# generated by lab/tools/lab.py"]
        for n in todo:
            c = byname[n]
            sh.append("case_begin %s" % shlex.quote(n))
            sh += c["_sh"]
            sh.append("case_end")
        timeout = 120 + 150 * len(todo)	# the 7.2 concurrency cases run 1-2 min each on a busy host
        bootdir = os.path.join(BUILD, "boot-%d" % boot)
        print("lab: boot %d: %d case(s), -accel %s" % (boot, len(todo), choose_accel()[0]), flush=True)
        text, dt, timed_out = run_boot(bootdir, "\n".join(sh) + "\n", timeout)
        got, order, done, abort = parse_results(text)
        boots.append((boot, len(todo), dt))
        print("lab: boot %d: %.1f s%s%s" % (boot, dt, ", TIMED OUT" if timed_out else "",
                                          ", stopped after residue" if abort else ""), flush=True)
        finished = []
        for n in order:
            if n in got and (got[n]["ended"] or got[n]["raw"]):
                results[n] = got[n]
                finished.append(n)
        rest = [n for n in todo if n not in finished]
        if rest and not abort:
            # the guest died or hung inside the first unfinished case
            bad = rest[0]
            con = os.path.join(bootdir, "console.log")
            oops = open(con, errors="replace").read() if os.path.exists(con) else ""
            if "Oops: int3" in oops and retried.get(bad, 0) < 2:
                # a known problem of the host, not of the case: under multi-threaded TCG
                # (QEMU 7.2) the 7.2 guest now and then traps on an int3 of its own text
                # patching (static keys, smp_text_poke_batch_finish); boot again
                retried[bad] = retried.get(bad, 0) + 1
                print("lab: boot %d: guest oops (int3 text poke under TCG) in %s; booting again"
                      % (boot, bad), flush=True)
                todo = rest
                continue
            results[bad] = got.get(bad) or {"steps": [], "raw": [], "residue": None, "ended": False}
            results[bad]["died"] = "guest %s during this case (see %s/console.log)" % (
                "timed out" if timed_out else "stopped", bootdir)
            rest = rest[1:]
        if not finished and rest == todo:
            break
        todo = rest

    # map, write, compare
    fails = 0
    for c in cases:
        n = c["_name"]
        k = known.get(n) or known.get(c["id"])
        exp = c.get("expected_events", [])
        if n not in results:
            why = c.get("_unsupported", "not run")
            if k and k.get("not_run"):
                verdict[n] = "VERSION-DIFF" if k.get("kind", "version") == "version" else k["kind"].upper()
                detail[n] = "not run: %s (%s)" % (why, k["reason"])
            else:
                verdict[n] = "FAIL"
                detail[n] = "not run: " + why
            continue
        r = results[n]
        flog = filter_log(r["raw"])
        events = map_events(c, flog)
        with open(os.path.join(OUT, n + ".raw.log"), "w") as f:
            f.write("\n".join(r["raw"]) + "\n")
        with open(os.path.join(OUT, n + ".log"), "w") as f:
            f.write("\n".join(flog) + ("\n" if flog else ""))
        with open(os.path.join(OUT, n + ".events"), "w") as f:
            f.write("\n".join(events) + ("\n" if events else ""))
        with open(os.path.join(OUT, n + ".steps"), "w") as f:
            f.write("\n".join(r["steps"]) + "\n" + ("RESIDUE " + r["residue"] + "\n" if r["residue"] else ""))
        problems = []
        stepfail = [s for s in r["steps"] if " FAIL " in s]
        if stepfail:
            problems.append("; ".join("step " + s for s in stepfail))
        if r.get("died"):
            problems.append(r["died"])
        if record and os.path.abspath(c["_path"]).startswith(os.path.join(LAB, "cases") + os.sep):
            d = json.load(open(c["_path"]))
            d["expected_events"] = events
            with open(c["_path"], "w") as f:
                json.dump(d, f, indent=2)
                f.write("\n")
            os.makedirs(RESULTS, exist_ok=True)
            for ext in (".log", ".events"):
                with open(os.path.join(OUT, n + ext)) as s, open(os.path.join(RESULTS, n + ext), "w") as t:
                    t.write(s.read())
            exp = events
        div = first_divergence(normalize(c, exp), normalize(c, events))
        if div:
            problems.append(div)
        if r["residue"]:
            detail.setdefault(n + "/residue", "left behind: " + r["residue"])
        if not problems:
            verdict[n] = "MATCH"
            if k:
                detail[n] = "matches although known-differences.json lists it (%s)" % k.get("reason", "")
            continue
        sig = problems[0]
        if c.get("outcome_varies") and not strict and not r.get("died"):
            # a concurrency case whose outcome depends on timing or memory layout (the case
            # says why): a divergence from the recorded run is reported, not failed
            verdict[n] = "VARIES"
            detail[n] = "%s (%s)" % ("; ".join(problems), c["outcome_varies"])
            continue
        if k and not strict and not k.get("not_run") and (k.get("signature") in (None, sig)):
            verdict[n] = "VERSION-DIFF" if k.get("kind", "version") == "version" else k["kind"].upper()
            detail[n] = "%s (%s)" % (sig, k["reason"])
        else:
            verdict[n] = "FAIL"
            detail[n] = "; ".join(problems)
    # report
    print()
    w = max(len(n) for n in names) if names else 10
    counts = {}
    for n in names:
        v = verdict[n]
        counts[v] = counts.get(v, 0) + 1
        line = "%-*s  %s" % (w, n, v)
        if n in detail:
            line += "  " + detail[n]
        if n + "/residue" in detail:
            line += "  [" + detail[n + "/residue"] + "]"
        print(line)
    print()
    print("lab: boots: " + ", ".join("#%d %d case(s) %.1f s" % b for b in boots))
    print("lab: " + ", ".join("%d %s" % (v, k) for k, v in sorted(counts.items())))
    nfail = counts.get("FAIL", 0)
    nmatch = counts.get("MATCH", 0)
    # plain closing line: known (recorded) differences are counted apart, never as passed
    print("%d passed, %d failed, %d skipped" % (nmatch, nfail, len(names) - nmatch - nfail))
    with open(os.path.join(OUT, "summary.json"), "w") as f:
        json.dump({"verdicts": verdict, "details": detail, "boots": boots}, f, indent=2)
    return 1 if nfail else 0


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "run":
        sys.exit(main_run(sys.argv[2:]))
    if len(sys.argv) == 4 and sys.argv[1] == "map":
        c = load_case(sys.argv[3])
        with open(sys.argv[2]) as f:
            print("\n".join(map_events(c, [l.rstrip("\n") for l in f])))
        return
    sys.exit(__doc__)


if __name__ == "__main__":
    main()
