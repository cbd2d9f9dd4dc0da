// SPDX-License-Identifier: GPL-2.0
/*
 * klpcheck lab: a kprobe on klp_check_stack_func() (kernel/livepatch/transition.c) that tells
 * when the kernel reads past the end of a func_stack (issue 12).
 *
 *   static int klp_check_stack_func(struct klp_func *func, unsigned long *entries,
 *                                   unsigned int nr_entries)
 *
 * With klp_target_state == KLP_TRANSITION_PATCHED and a func_stack of two or more entries the
 * kernel takes the "previous" func as list_next_entry(func, stack_node). When func is the last
 * entry, func->stack_node.next is &ops->func_stack, the list head inside struct klp_ops, and
 * the kernel then reads that head as a struct klp_func (its new_func and new_size). The probe
 * makes exactly that test, func->stack_node.next == &ops->func_stack with ops =
 * klp_find_ops(func->old_func), and logs the addresses and the values the kernel reads.
 * If the compiler inlined klp_check_stack_func, the probe sits on its caller klp_check_stack(),
 * and if that is inlined too (Debian's 7.2.13 build inlines both), on
 * klp_check_and_switch_task(task, arg), the task_call_func() callback that calls it: there it
 * skips a task that is running on another CPU (the kernel returns -EBUSY before the stack
 * check) and examines the funcs klp_check_stack() walks: those of klp_transition_patch's
 * patched objects.
 *
 * Parameters (read-only): checks (funcs examined), oob (out-of-bounds reads seen).
 * Symbols that are not exported are found with kallsyms_lookup_name, whose address a
 * kprobe registration tells. The probe runs under the task's pi_lock/rq lock
 * (task_call_func), where printk may deadlock: it formats its report into a buffer and an
 * irq_work prints it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/kprobes.h>
#include <linux/livepatch.h>
#include <linux/ftrace.h>
#include <linux/printk.h>
#include <linux/uaccess.h>
#include <linux/irq_work.h>

/* kernel/livepatch/patch.h */
struct klp_ops {
	struct list_head node;
	struct list_head func_stack;
	struct ftrace_ops fops;
};

#define LAB_KLP_PATCHED 1	/* KLP_TRANSITION_PATCHED (6.10+), KLP_PATCHED before */

static unsigned long checks, oob;
module_param(checks, ulong, 0444);
module_param(oob, ulong, 0444);

typedef unsigned long (*lookup_name_t)(const char *name);
typedef struct klp_ops *(*find_ops_t)(void *old_func);
static find_ops_t find_ops;
static int *target_state;
static struct klp_patch **transition_patch;
static int reported;
static const char *probed;

#define NREPORTS 4
static char report[NREPORTS][480];
static atomic_t nready = ATOMIC_INIT(0);
static int nprinted;

static void print_reports(struct irq_work *w)
{
	int n = atomic_read(&nready);

	for (; nprinted < n && nprinted < NREPORTS; nprinted++)
		pr_info("%s\n", report[nprinted]);
}
static DEFINE_IRQ_WORK(print_work, print_reports);

static void examine(struct klp_func *func)
{
	struct klp_ops *ops;
	struct list_head *pos;
	struct klp_func *prev;
	unsigned long nf = 0, ns = 0;
	const char *pname = "?";
	int n = 0;

	checks++;
	if (READ_ONCE(*target_state) != LAB_KLP_PATCHED)
		return;
	ops = find_ops(func->old_func);
	if (!ops || list_is_singular(&ops->func_stack))
		return;
	if (func->stack_node.next != &ops->func_stack)
		return;
	oob++;
	if (reported >= NREPORTS)
		return;
	list_for_each(pos, &ops->func_stack)
		n++;
	if (func->kobj.parent && func->kobj.parent->parent)
		pname = kobject_name(func->kobj.parent->parent);
	/* what the kernel computes: prev = list_next_entry(func, stack_node) */
	prev = list_next_entry(func, stack_node);
	copy_from_kernel_nofault(&nf, &prev->new_func, sizeof(nf));
	copy_from_kernel_nofault(&ns, &prev->new_size, sizeof(ns));
	snprintf(report[reported], sizeof(report[0]),
		 "OOB: '%s' %s: %s is the last of %d on its func_stack; list_next_entry() is the klp_ops head %px, read as a klp_func: new_func at %px (%ld bytes before the klp_ops at %px) = %lx, new_size at %px = %lu",
		 pname, probed, func->old_name, n, &ops->func_stack, &prev->new_func,
		 (long)((char *)ops - (char *)&prev->new_func), ops, nf, &prev->new_size, ns);
	reported++;
	atomic_set(&nready, reported);
	irq_work_queue(&print_work);
}

static int pre_check_stack_func(struct kprobe *p, struct pt_regs *regs)
{
	examine((struct klp_func *)regs->di);	/* 1st argument: func */
	return 0;
}

static void examine_patch(void)
{
	struct klp_patch *patch = READ_ONCE(*transition_patch);
	struct klp_object *obj;
	struct klp_func *func;

	if (!patch)
		return;
	klp_for_each_object(patch, obj) {
		if (!obj->patched)
			continue;
		klp_for_each_func(obj, func)
			examine(func);
	}
}

static int pre_check_stack(struct kprobe *p, struct pt_regs *regs)
{
	examine_patch();
	return 0;
}

static int pre_check_and_switch_task(struct kprobe *p, struct pt_regs *regs)
{
	struct task_struct *task = (struct task_struct *)regs->di;	/* 1st argument */

	/* klp_check_and_switch_task: if (task_curr(task) && task != current) return -EBUSY; */
	if (READ_ONCE(task->on_cpu) && task != current)
		return 0;
	examine_patch();
	return 0;
}

static struct kprobe kp;

static unsigned long kallsyms_addr(void)
{
	struct kprobe k = { .symbol_name = "kallsyms_lookup_name" };
	unsigned long a;

	if (register_kprobe(&k) < 0)
		return 0;
	a = (unsigned long)k.addr;
	unregister_kprobe(&k);
	return a;
}

static const struct {
	const char *name;
	kprobe_pre_handler_t handler;
} sites[] = {
	{ "klp_check_stack_func", pre_check_stack_func },
	{ "klp_check_stack", pre_check_stack },
	{ "klp_check_and_switch_task", pre_check_and_switch_task },
};

static int test_klp_lab_oob_init(void)
{
	lookup_name_t lookup = (lookup_name_t)kallsyms_addr();
	int ret = -ENOENT, i;

	if (!lookup) {
		pr_err("kallsyms_lookup_name not found\n");
		return -ENOENT;
	}
	find_ops = (find_ops_t)lookup("klp_find_ops");
	target_state = (int *)lookup("klp_target_state");
	transition_patch = (struct klp_patch **)lookup("klp_transition_patch");
	if (!find_ops || !target_state || !transition_patch) {
		pr_err("klp_find_ops/klp_target_state/klp_transition_patch not found\n");
		return -ENOENT;
	}
	for (i = 0; i < ARRAY_SIZE(sites); i++) {
		memset(&kp, 0, sizeof(kp));
		kp.symbol_name = sites[i].name;
		kp.pre_handler = sites[i].handler;
		ret = register_kprobe(&kp);
		if (ret >= 0)
			break;
	}
	if (ret < 0) {
		pr_err("cannot probe klp_check_stack_func, klp_check_stack or klp_check_and_switch_task (%d)\n", ret);
		return ret;
	}
	probed = kp.symbol_name;
	pr_info("probe on %s\n", probed);
	return 0;
}

static void test_klp_lab_oob_exit(void)
{
	unregister_kprobe(&kp);
	irq_work_sync(&print_work);
	print_reports(NULL);
	pr_info("checks %lu, out-of-bounds %lu\n", checks, oob);
}

module_init(test_klp_lab_oob_init);
module_exit(test_klp_lab_oob_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klpcheck lab: kprobe that detects klp_check_stack_func reading past a func_stack");
