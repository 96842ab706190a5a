// SPDX-License-Identifier: GPL-2.0
/*
 * slh_test_delay - widens race windows for the qemu-tests: a kprobe on the
 * entry of each given function that busy-waits there before the function
 * runs, or (on_return=1) a kretprobe that busy-waits as it returns, before its
 * caller goes on.
 *
 * Races between the packet path and configuration changes are a few
 * instructions wide; under TCG a test would need luck to hit one. With the
 * delay, every call of the probed function stands still long enough for the
 * other CPU to finish its change, so a test hits the window on nearly every
 * try. The probed function runs unchanged after the delay.
 *
 *   insmod slh_test_delay.ko symbol=NAME[,NAME...] delay_us=N [on_return=1]
 *
 * Each NAME is a kallsyms name (a module's symbols included), at most 16; hits
 * (read only) counts the delayed calls, so that a test can show the window
 * was reached. Unloading removes the probes.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/delay.h>
#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

#define SLH_TEST_DELAY_MAX 16

static char *symbol[SLH_TEST_DELAY_MAX];
static int nsymbols;
module_param_array(symbol, charp, &nsymbols, 0444);
MODULE_PARM_DESC(symbol, "kallsyms names of the functions to delay");

static unsigned int delay_us = 500;
module_param(delay_us, uint, 0444);
MODULE_PARM_DESC(delay_us, "busy wait at each entry (or return), in microseconds (at most 1000000)");

static bool on_return;
module_param(on_return, bool, 0444);
MODULE_PARM_DESC(on_return, "wait as each function returns instead of at its entry");

static atomic_t hits = ATOMIC_INIT(0);

static int hits_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%d\n", atomic_read(&hits));
}

static const struct kernel_param_ops hits_ops = {
	.get = hits_get,
};
module_param_cb(hits, &hits_ops, NULL, 0444);
MODULE_PARM_DESC(hits, "calls delayed so far");

static void delay(void)
{
	atomic_inc(&hits);
	mdelay(delay_us / 1000);
	udelay(delay_us % 1000);
}

static int delay_pre(struct kprobe *p, struct pt_regs *regs)
{
	delay();
	return 0;
}

static int delay_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	delay();
	return 0;
}

static struct kprobe probes[SLH_TEST_DELAY_MAX];
static struct kprobe *probe_ptrs[SLH_TEST_DELAY_MAX];
static struct kretprobe retprobes[SLH_TEST_DELAY_MAX];
static struct kretprobe *retprobe_ptrs[SLH_TEST_DELAY_MAX];

static int __init slh_test_delay_init(void)
{
	int i, err;

	if (!nsymbols || delay_us > 1000000)
		return -EINVAL;
	for (i = 0; i < nsymbols; i++) {
		probes[i].symbol_name = symbol[i];
		probes[i].pre_handler = delay_pre;
		probe_ptrs[i] = &probes[i];
		retprobes[i].kp.symbol_name = symbol[i];
		retprobes[i].handler = delay_ret;
		/* Enough for a call in flight on each CPU. */
		retprobes[i].maxactive = 4 * num_possible_cpus();
		retprobe_ptrs[i] = &retprobes[i];
	}
	if (on_return)
		err = register_kretprobes(retprobe_ptrs, nsymbols);
	else
		err = register_kprobes(probe_ptrs, nsymbols);
	if (err) {
		pr_err("cannot probe the %d functions: %d\n", nsymbols, err);
		return err;
	}
	pr_info("delaying each call of %d functions by %u us at its %s\n",
		nsymbols, delay_us, on_return ? "return" : "entry");
	return 0;
}

static void __exit slh_test_delay_exit(void)
{
	if (on_return)
		unregister_kretprobes(retprobe_ptrs, nsymbols);
	else
		unregister_kprobes(probe_ptrs, nsymbols);
}

module_init(slh_test_delay_init);
module_exit(slh_test_delay_exit);
MODULE_DESCRIPTION("qemu-tests only: busy-wait at the entry or return of a function");
MODULE_LICENSE("GPL");
