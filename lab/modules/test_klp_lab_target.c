// SPDX-License-Identifier: GPL-2.0
/*
 * klpcheck lab: target module whose kthread calls lab_target_func() every 50 ms.
 * Between calls the thread sleeps in lab_target_thread (not in lab_target_func), so a
 * patching transition of lab_target_func completes; once patched by test_klp_lab_patch
 * with block=Y, the thread sleeps inside the patch's new function.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/delay.h>

static struct task_struct *thread;
static unsigned long calls;

noinline void lab_target_func(void)
{
	WRITE_ONCE(calls, calls + 1);
	barrier();
}

static int lab_target_thread(void *data)
{
	while (!kthread_should_stop()) {
		lab_target_func();
		msleep(50);
	}
	return 0;
}

static int test_klp_lab_target_init(void)
{
	pr_info("%s\n", __func__);
	thread = kthread_run(lab_target_thread, NULL, "klp_lab_target");
	return PTR_ERR_OR_ZERO(thread);
}

static void test_klp_lab_target_exit(void)
{
	kthread_stop(thread);
	pr_info("%s\n", __func__);
}

module_init(test_klp_lab_target_init);
module_exit(test_klp_lab_target_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klpcheck lab: target module with a kthread calling lab_target_func");
