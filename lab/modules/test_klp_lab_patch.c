// SPDX-License-Identifier: GPL-2.0
/*
 * klpcheck lab: a configurable livepatch for scenarios the kernel selftests do not cover.
 *
 * Objects (callbacks on each log exactly like test_klp_callbacks_demo, so the lab's
 * event mapper reads them the same way):
 *   vmlinux                  no functions
 *   test_klp_callbacks_mod   no functions
 *   test_klp_callbacks_busy  busymod_work_func -> lab_busy_work_func
 *   test_klp_lab_target      lab_target_func   -> lab_new_target_func
 * Parameters:
 *   replace (int, load time)         atomic replace patch when 1
 *   pre_patch_ret (int, writable)    returned by every pre_patch callback
 *   block (bool, writable)           lab_new_target_func sleeps while it is set, so a
 *                                    task stays inside this patch's code (stalls unpatching)
 * test_klp_lab_patch2.c builds the same code under a second module name.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/delay.h>
#include <linux/workqueue.h>

static int replace;
module_param(replace, int, 0444);
MODULE_PARM_DESC(replace, "replace (default=0)");

static int pre_patch_ret;
module_param(pre_patch_ret, int, 0644);
MODULE_PARM_DESC(pre_patch_ret, "pre_patch_ret (default=0)");

static bool block;
module_param(block, bool, 0644);
MODULE_PARM_DESC(block, "lab_new_target_func sleeps while set (default=N)");

static const char *const module_state[] = {
	[MODULE_STATE_LIVE]	= "[MODULE_STATE_LIVE] Normal state",
	[MODULE_STATE_COMING]	= "[MODULE_STATE_COMING] Full formed, running module_init",
	[MODULE_STATE_GOING]	= "[MODULE_STATE_GOING] Going away",
	[MODULE_STATE_UNFORMED]	= "[MODULE_STATE_UNFORMED] Still setting it up",
};

static void callback_info(const char *callback, struct klp_object *obj)
{
	if (obj->mod)
		pr_info("%s: %s -> %s\n", callback, obj->mod->name,
			module_state[obj->mod->state]);
	else
		pr_info("%s: vmlinux\n", callback);
}

static int pre_patch_callback(struct klp_object *obj)
{
	callback_info(__func__, obj);
	return pre_patch_ret;
}

static void post_patch_callback(struct klp_object *obj)
{
	callback_info(__func__, obj);
}

static void pre_unpatch_callback(struct klp_object *obj)
{
	callback_info(__func__, obj);
}

static void post_unpatch_callback(struct klp_object *obj)
{
	callback_info(__func__, obj);
}

static void lab_busy_work_func(struct work_struct *work)
{
	pr_info("%s\n", __func__);
}

/*
 * The wait is done in a helper that lab_new_target_func calls unconditionally. Written
 * inline as "if (block) { pr_info(); while (block) msleep(); }", gcc moves that unlikely
 * path into a separate lab_new_target_func.cold symbol; a task sleeping there is outside
 * [new_func, new_func + new_size), so klp_check_stack() does not see it and an unpatching
 * transition completes while the task still runs this module's code (seen in the lab).
 */
static noinline void lab_block_wait(const char *fn)
{
	if (!READ_ONCE(block))
		return;
	pr_info("%s: blocking\n", fn);
	while (READ_ONCE(block))
		msleep(20);
	pr_info("%s: released\n", fn);
}

static noinline void lab_new_target_func(void)
{
	lab_block_wait(__func__);
	barrier();	/* keep the call a call, not a tail jump */
}

static struct klp_func no_funcs[] = {
	{ }
};

static struct klp_func busymod_funcs[] = {
	{
		.old_name = "busymod_work_func",
		.new_func = lab_busy_work_func,
	}, { }
};

static struct klp_func target_funcs[] = {
	{
		.old_name = "lab_target_func",
		.new_func = lab_new_target_func,
	}, { }
};

#define CALLBACKS {						\
		.pre_patch = pre_patch_callback,		\
		.post_patch = post_patch_callback,		\
		.pre_unpatch = pre_unpatch_callback,		\
		.post_unpatch = post_unpatch_callback,		\
	}

static struct klp_object objs[] = {
	{
		.name = NULL,	/* vmlinux */
		.funcs = no_funcs,
		.callbacks = CALLBACKS,
	}, {
		.name = "test_klp_callbacks_mod",
		.funcs = no_funcs,
		.callbacks = CALLBACKS,
	}, {
		.name = "test_klp_callbacks_busy",
		.funcs = busymod_funcs,
		.callbacks = CALLBACKS,
	}, {
		.name = "test_klp_lab_target",
		.funcs = target_funcs,
		.callbacks = CALLBACKS,
	}, { }
};

static struct klp_patch patch = {
	.mod = THIS_MODULE,
	.objs = objs,
};

static int test_klp_lab_patch_init(void)
{
	patch.replace = replace;
	return klp_enable_patch(&patch);
}

static void test_klp_lab_patch_exit(void)
{
}

module_init(test_klp_lab_patch_init);
module_exit(test_klp_lab_patch_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("klpcheck lab: configurable livepatch (callbacks, replace, blocking new function)");
