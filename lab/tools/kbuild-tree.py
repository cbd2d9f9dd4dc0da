#!/usr/bin/env python3
"""Make Debian's extracted linux-headers tree usable with the local compiler.

  kbuild-tree.py HDR_ROOT KVER HOST_CONFIGURED_OBJTREE

HDR_ROOT holds the linux-headers-KVER, linux-headers-*-common, linux-kbuild-* and linux-base-KVER
packages extracted with dpkg-deb -x (usr/src/..., usr/lib/...). HOST_CONFIGURED_OBJTREE is an
object tree of the same kernel source where `make olddefconfig modules_prepare` ran with the
local gcc and Debian's .config (lab/run does this).

What it changes, and why:
* The headers' Makefile names /usr/src/... absolutely: it is pointed at HDR_ROOT.
* Compiler capability symbols (CONFIG_CC_HAS_*, CONFIG_CC_OPT_*, CONFIG_GCC_*, CONFIG_CC_*
  derived from `$(CC)` tests) were computed by Kconfig for Debian's gcc-16. Where the local
  compiler's Kconfig run gives another value, auto.conf and autoconf.h take the local value
  (for example CC_HAS_COUNTED_BY_PTR, CC_HAS_ASSUME, CC_OPT_INLINE_MEMSET are gcc >= 13..16
  features that gcc 12 rejects). Every other symbol (struct layouts: SCHED_CLASS_EXT,
  DEBUG_INFO_BTF_MODULES, ...) stays Debian's, so the modules match the running kernel.
* Host programs of linux-kbuild that need a newer glibc than the host's (modpost, objtool,
  genksyms) are replaced by the ones built from linux-source in HOST_CONFIGURED_OBJTREE.
* `vmlinux` (the BTF base) is moved aside: module BTF would need pahole; modules without BTF
  load fine ("Skipping BTF generation").
Prints one line per change.
"""
import os
import re
import shutil
import sys

CC_SYM = re.compile(r"^CONFIG_(CC_HAS_\w+|CC_OPT_\w+|GCC_\w+|CC_CAN_\w+|CC_IS_\w+|CC_VERSION_TEXT|"
                    r"CC_IMPLICIT_FALLTHROUGH|CC_MS_EXTENSIONS|CC_NO_\w+|GCC10_\w+|AS_\w+|LD_\w+)$")


def read_conf(path):
    vals = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"^(CONFIG_\w+)=(.*)$", line.rstrip("\n"))
            if m:
                vals[m.group(1)] = m.group(2)
    return vals


def header_line(sym, val):
    if val == "y":
        return "#define %s 1" % sym
    if val == "m":
        return "#define %s_MODULE 1" % sym
    return "#define %s %s" % (sym, val)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    root, kver, host = sys.argv[1:]
    hdr = os.path.join(root, "usr/src/linux-headers-%s" % kver)
    common = [d for d in os.listdir(os.path.join(root, "usr/src")) if d.endswith("-common")]
    if len(common) != 1:
        sys.exit("kbuild-tree: expected one linux-headers-*-common in %s/usr/src" % root)
    common = os.path.join(root, "usr/src", common[0])
    kbuild = os.path.realpath(os.path.join(hdr, "scripts", ".."))

    # 1. absolute paths in the Makefile
    mk = os.path.join(hdr, "Makefile")
    text = open(mk).read()
    new = re.sub(r"(KBUILD_OUTPUT\s*=\s*)\S+", r"\g<1>" + hdr, text)
    new = re.sub(r"^include\s+\S+", "include " + os.path.join(common, "Makefile"), new, flags=re.M)
    if new != text:
        open(mk, "w").write(new)
        print("kbuild-tree: Makefile points at %s" % root)

    # 2. compiler capability symbols
    deb = read_conf(os.path.join(hdr, "include/config/auto.conf"))
    loc = read_conf(os.path.join(host, "include/config/auto.conf"))
    changes = {}
    for s in sorted(set(deb) | set(loc)):
        if not CC_SYM.match(s):
            continue
        if deb.get(s) != loc.get(s):
            changes[s] = loc.get(s)
    if changes:
        ac = os.path.join(hdr, "include/config/auto.conf")
        lines = [l for l in open(ac).read().split("\n") if not re.match(r"^(%s)=" % "|".join(changes), l)]
        if lines and lines[-1] == "":
            lines.pop()
        lines += ["%s=%s" % (s, v) for s, v in changes.items() if v is not None]
        open(ac, "w").write("\n".join(lines) + "\n")
        ah = os.path.join(hdr, "include/generated/autoconf.h")
        hl = [l for l in open(ah).read().split("\n")
              if not re.match(r"^#define (%s)(_MODULE)? " % "|".join(changes), l)]
        if hl and hl[-1] == "":
            hl.pop()
        hl += [header_line(s, v) for s, v in changes.items() if v is not None]
        open(ah, "w").write("\n".join(hl) + "\n")
        for s, v in changes.items():
            print("kbuild-tree: %s: %s -> %s" % (s, deb.get(s, "(unset)"), v if v is not None else "(unset)"))

    # 3. host programs built from source
    for rel_src, rel_dst in (("scripts/mod/modpost", "scripts/mod/modpost.real-lsb-64"),
                             ("scripts/genksyms/genksyms", "scripts/genksyms/genksyms"),
                             ("tools/objtool/objtool", "tools/objtool/objtool.real-x86")):
        s, d = os.path.join(host, rel_src), os.path.join(kbuild, rel_dst)
        if os.path.exists(s) and os.path.exists(d):
            shutil.copy2(s, d)
            print("kbuild-tree: %s from linux-source" % rel_dst)
        elif os.path.exists(d):
            # not needed by this configuration (genksyms only with CONFIG_MODVERSIONS)
            print("kbuild-tree: %s not built from source (unused with this config)" % rel_dst)

    # 4. no module BTF
    v = os.path.join(hdr, "vmlinux")
    if os.path.exists(v):
        os.rename(v, v + ".btf-base")
        print("kbuild-tree: vmlinux moved aside (no module BTF without pahole)")


if __name__ == "__main__":
    main()
