// SPDX-License-Identifier: GPL-2.0
/*
 * klpcheck lab, shadow use-after-free run (audit e1, P2): an atomic-replace patch whose
 * pre_patch allocates the shadow variable <SHADOW_OBJ, SHADOW_ID> (klp_shadow_get_or_alloc)
 * and whose new klp_lab_f needs it. Parameters: `sleep_ms` (pre_patch sleeps that long after
 * the allocation), `missing` (read-only: calls of the new klp_lab_f that found no shadow).
 * post_patch logs whether the shadow is still there; post_unpatch frees it, so that each
 * load cycle starts without one.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/delay.h>

#define SHADOW_OBJ ((void *)0x4c5041UL)
#define SHADOW_ID 7

static int missing;
module_param(missing, int, 0444);
static int sleep_ms;
module_param(sleep_ms, int, 0444);

static noinline int lab_p2_klp_lab_f(void)
{
	if (!klp_shadow_get(SHADOW_OBJ, SHADOW_ID))
		WRITE_ONCE(missing, READ_ONCE(missing) + 1);
	return 0;
}

static int pre_patch(struct klp_object *obj)
{
	if (!klp_shadow_get_or_alloc(SHADOW_OBJ, SHADOW_ID, 8, GFP_KERNEL, NULL, NULL))
		return -ENOMEM;
	pr_info("pre_patch: shadow allocated\n");
	if (sleep_ms)
		msleep(sleep_ms);
	return 0;
}

static void post_patch(struct klp_object *obj)
{
	pr_info("post_patch: shadow %s\n",
		klp_shadow_get(SHADOW_OBJ, SHADOW_ID) ? "present" : "MISSING");
}

static void post_unpatch(struct klp_object *obj)
{
	klp_shadow_free(SHADOW_OBJ, SHADOW_ID, NULL);
}

static struct klp_func funcs[] = {
	{ .old_name = "klp_lab_f", .new_func = lab_p2_klp_lab_f }, { }
};
static struct klp_object objs[] = {
	{
		.name = "test_klp_lab_conc_target", .funcs = funcs,
		.callbacks = {
			.pre_patch = pre_patch,
			.post_patch = post_patch,
			.post_unpatch = post_unpatch,
		},
	}, { }
};
static struct klp_state states[] = { { .id = 1, .version = 1 }, { } };
static struct klp_patch patch = {
	.mod = THIS_MODULE, .objs = objs, .states = states, .replace = true,
};

static int test_klp_lab_shadow_p2_init(void)
{
	return klp_enable_patch(&patch);
}

static void test_klp_lab_shadow_p2_exit(void)
{
}

module_init(test_klp_lab_shadow_p2_init);
module_exit(test_klp_lab_shadow_p2_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("klpcheck lab: P2 (replace) of the shadow use-after-free run (needs the shadow)");
