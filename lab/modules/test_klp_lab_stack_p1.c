// SPDX-License-Identifier: GPL-2.0
/*
 * klpcheck lab, stacked patches (audit e2/e4, P1): patches klp_lab_h (never called) and
 * klp_lab_g (called by the target's kthread every 50 ms). While `block` is set, the new
 * klp_lab_g sleeps in a helper it always calls, so the kthread stays inside this patch's
 * code (the return address is inside the new klp_lab_g, see lab/README.md on .cold) and an
 * unpatching transition of this patch stalls.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/delay.h>

static bool block;
module_param(block, bool, 0644);

static noinline void lab_stack_p1_block_wait(void)
{
	if (!READ_ONCE(block))
		return;
	pr_info("lab_stack_p1_klp_lab_g: blocking\n");
	while (READ_ONCE(block))
		msleep(20);
	pr_info("lab_stack_p1_klp_lab_g: released\n");
}

static noinline void lab_stack_p1_klp_lab_g(void)
{
	lab_stack_p1_block_wait();
	barrier();
}

static noinline void lab_stack_p1_klp_lab_h(void)
{
	barrier();
}

static struct klp_func funcs[] = {
	{ .old_name = "klp_lab_h", .new_func = lab_stack_p1_klp_lab_h },
	{ .old_name = "klp_lab_g", .new_func = lab_stack_p1_klp_lab_g }, { }
};
static struct klp_object objs[] = {
	{ .name = "test_klp_lab_conc_target", .funcs = funcs }, { }
};
static struct klp_patch patch = { .mod = THIS_MODULE, .objs = objs };

static int test_klp_lab_stack_p1_init(void)
{
	return klp_enable_patch(&patch);
}

static void test_klp_lab_stack_p1_exit(void)
{
}

module_init(test_klp_lab_stack_p1_init);
module_exit(test_klp_lab_stack_p1_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("klpcheck lab: P1 of the stacked-patch runs (klp_lab_g blocks while block=Y)");
