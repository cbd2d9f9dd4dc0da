#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Selftest-style reproducer of the klp_check_stack_func out-of-bounds read
# (docs/findings/klp-check-stack-func-oob.md). Copy it next to
# tools/testing/selftests/livepatch/functions.sh, put the modules of
# klpcheck's lab/modules/ (test_klp_lab_conc_target, test_klp_lab_stack_p1,
# test_klp_lab_stack_p2, test_klp_lab_oob) in test_modules/, run as root.
# It is the step list of lab/cases/7.2/lab72-05-reversed-disable-oob-read.json,
# which `lab/run --kernel 7.2` runs in QEMU.
#
# The kprobe module test_klp_lab_oob counts the checks in which
# klp_check_stack_func takes list_next_entry() of the last func of a
# func_stack (func->stack_node.next == &ops->func_stack); the test fails
# (reproduces the bug) when its `oob` parameter is not 0.

. $(dirname $0)/functions.sh

MOD_TARGET=test_klp_lab_conc_target
MOD_PROBE=test_klp_lab_oob
MOD_P1=test_klp_lab_stack_p1
MOD_P2=test_klp_lab_stack_p2
SYSFS=/sys/kernel/livepatch

setup_config

start_test "reversed disable of the bottom patch of a two-entry func_stack"

load_mod $MOD_TARGET
load_mod $MOD_PROBE
load_lp $MOD_P1
# P2 patches klp_lab_h on top of P1: klp_lab_h's func_stack is [P2, P1],
# P1's func is its last entry.
load_lp $MOD_P2

# The target's kthread now sleeps in P1's klp_lab_g: P1's disable stalls.
echo Y > /sys/module/$MOD_P1/parameters/block
sleep 1
log "% echo 0 > $SYSFS/$MOD_P1/enabled"
echo 0 > $SYSFS/$MOD_P1/enabled
sleep 3
# Reverse it: klp_target_state becomes KLP_TRANSITION_PATCHED, and the
# next klp_try_complete_transition checks the switched tasks against it.
log "% echo 1 > $SYSFS/$MOD_P1/enabled"
echo 1 > $SYSFS/$MOD_P1/enabled
sleep 10

oob=$(cat /sys/module/$MOD_PROBE/parameters/oob)
log "klp_check_stack_func read the klp_ops head as a klp_func $oob times"

# Clean up: release the kthread and undo the reversal.
echo N > /sys/module/$MOD_P1/parameters/block
sleep 3
echo 0 > $SYSFS/$MOD_P1/enabled
loop_until '[[ ! -e $SYSFS/$MOD_P1 ]]' || die "$MOD_P1 still in transition"
unload_lp $MOD_P1
disable_lp $MOD_P2
unload_lp $MOD_P2
unload_mod $MOD_PROBE
unload_mod $MOD_TARGET

if [[ "$oob" != 0 ]]; then
	die "klp_check_stack_func read past the func_stack $oob times"
fi
echo "ok"
exit 0
