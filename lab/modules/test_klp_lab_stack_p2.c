// SPDX-License-Identifier: GPL-2.0
/*
 * klpcheck lab, stacked patches (audit e2/e4, P2): a non-replace patch of klp_lab_h on top of
 * test_klp_lab_stack_p1, so klp_lab_h's func_stack holds two funcs with P1's at the bottom.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>

static noinline void lab_stack_p2_klp_lab_h(void)
{
	barrier();
}

static struct klp_func funcs[] = {
	{ .old_name = "klp_lab_h", .new_func = lab_stack_p2_klp_lab_h }, { }
};
static struct klp_object objs[] = {
	{ .name = "test_klp_lab_conc_target", .funcs = funcs }, { }
};
static struct klp_patch patch = { .mod = THIS_MODULE, .objs = objs };

static int test_klp_lab_stack_p2_init(void)
{
	return klp_enable_patch(&patch);
}

static void test_klp_lab_stack_p2_exit(void)
{
}

module_init(test_klp_lab_stack_p2_init);
module_exit(test_klp_lab_stack_p2_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("klpcheck lab: P2 of the stacked-patch runs (klp_lab_h on top of P1)");
