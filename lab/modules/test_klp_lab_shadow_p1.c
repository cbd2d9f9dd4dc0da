// SPDX-License-Identifier: GPL-2.0
/*
 * klpcheck lab, shadow use-after-free run (audit e1, P1): a non-replace patch whose new
 * klp_lab_f frees the shadow variable <SHADOW_OBJ, SHADOW_ID> when it finds one.
 * Parameter `frees` (read-only) counts the frees.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>

#define SHADOW_OBJ ((void *)0x4c5041UL)
#define SHADOW_ID 7

static int frees;
module_param(frees, int, 0444);

static noinline int lab_p1_klp_lab_f(void)
{
	if (klp_shadow_get(SHADOW_OBJ, SHADOW_ID)) {
		klp_shadow_free(SHADOW_OBJ, SHADOW_ID, NULL);
		WRITE_ONCE(frees, READ_ONCE(frees) + 1);
	}
	return 0;
}

static struct klp_func funcs[] = {
	{ .old_name = "klp_lab_f", .new_func = lab_p1_klp_lab_f }, { }
};
static struct klp_object objs[] = {
	{ .name = "test_klp_lab_conc_target", .funcs = funcs }, { }
};
static struct klp_state states[] = { { .id = 1, .version = 0 }, { } };
static struct klp_patch patch = {
	.mod = THIS_MODULE, .objs = objs, .states = states,
};

static int test_klp_lab_shadow_p1_init(void)
{
	return klp_enable_patch(&patch);
}

static void test_klp_lab_shadow_p1_exit(void)
{
}

module_init(test_klp_lab_shadow_p1_init);
module_exit(test_klp_lab_shadow_p1_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("klpcheck lab: P1 of the shadow use-after-free run (frees the shadow)");
