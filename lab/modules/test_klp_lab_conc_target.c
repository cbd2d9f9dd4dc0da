// SPDX-License-Identifier: GPL-2.0
/*
 * klpcheck lab: target module for the concurrency runs (7.2, -smp 2).
 *   klp_lab_f(): called by every read of /proc/klp_lab_f (a user workload, lab/guest/klp_hammer,
 *                reads it in a loop);
 *   klp_lab_g(): called every 50 ms by the kthread "klp_lab_g";
 *   klp_lab_h(): never called (a function only patches stack on).
 * Modelled on the audit's audit_target (shared/reference/audit-kernel-lab).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/proc_fs.h>
#include <linux/kthread.h>
#include <linux/delay.h>

static unsigned long calls_f, calls_g, calls_h;
module_param(calls_f, ulong, 0444);
module_param(calls_g, ulong, 0444);

noinline int klp_lab_f(void)
{
	WRITE_ONCE(calls_f, calls_f + 1);
	barrier();
	return 0;
}
EXPORT_SYMBOL_GPL(klp_lab_f);

noinline void klp_lab_g(void)
{
	WRITE_ONCE(calls_g, calls_g + 1);
	barrier();
}

noinline void klp_lab_h(void)
{
	WRITE_ONCE(calls_h, calls_h + 1);
	barrier();
}
EXPORT_SYMBOL_GPL(klp_lab_h);

static ssize_t klp_lab_f_read(struct file *file, char __user *buf, size_t len, loff_t *ppos)
{
	return klp_lab_f();
}

static const struct proc_ops klp_lab_f_ops = {
	.proc_read = klp_lab_f_read,
};

static struct task_struct *thread;

static int klp_lab_g_thread(void *data)
{
	while (!kthread_should_stop()) {
		klp_lab_g();
		msleep(50);
	}
	return 0;
}

static int test_klp_lab_conc_target_init(void)
{
	if (!proc_create("klp_lab_f", 0444, NULL, &klp_lab_f_ops))
		return -ENOMEM;
	thread = kthread_run(klp_lab_g_thread, NULL, "klp_lab_g");
	if (IS_ERR(thread)) {
		remove_proc_entry("klp_lab_f", NULL);
		return PTR_ERR(thread);
	}
	pr_info("%s\n", __func__);
	return 0;
}

static void test_klp_lab_conc_target_exit(void)
{
	kthread_stop(thread);
	remove_proc_entry("klp_lab_f", NULL);
	pr_info("%s\n", __func__);
}

module_init(test_klp_lab_conc_target_init);
module_exit(test_klp_lab_conc_target_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klpcheck lab: target of the concurrency runs (/proc/klp_lab_f, kthread klp_lab_g)");
