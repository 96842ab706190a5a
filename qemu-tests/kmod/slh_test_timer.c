// SPDX-License-Identifier: GPL-2.0
/*
 * slh_test_timer - shortens the period of chosen timers for the qemu-tests: a
 * kprobe on mod_timer() that, when the timer's callback is one of the given
 * functions, makes it expire period_ms from now instead of when asked.
 *
 * The lblc and lblcr schedulers collect their idle table entries from a
 * timer that runs every 60 s and does a full expiration check every 30th
 * run: a test would wait half an hour to see one. Both the C modules and ours
 * arm that timer (and re-arm it from its callback) with mod_timer(), so the
 * same probe speeds up both, and a test can compare what their collections
 * do. Neither module has, or needs, a knob of its own for it. Timers armed
 * with add_timer(), timer_reduce() or mod_timer_pending() are not seen.
 *
 *   insmod slh_test_timer.ko function=ADDR[,ADDR...] period_ms=N
 *
 * Each ADDR is a timer callback's address (from /proc/kallsyms), at most 8;
 * rearms (read only) counts the shortened mod_timer() calls, so that a test
 * can wait for a number of runs. Unloading removes the probe; timers already
 * armed keep their short expiry once more.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/jiffies.h>
#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/timer.h>

/* The expiry is rewritten in the register that carries mod_timer()'s second argument. */
#ifndef CONFIG_X86_64
#error "slh_test_timer rewrites an x86-64 argument register"
#endif

#define SLH_TEST_TIMER_MAX 8

static unsigned long function[SLH_TEST_TIMER_MAX];
static int nfunctions;
module_param_array(function, ulong, &nfunctions, 0444);
MODULE_PARM_DESC(function, "addresses of the timer callbacks whose timers to shorten");

static unsigned int period_ms = 100;
module_param(period_ms, uint, 0444);
MODULE_PARM_DESC(period_ms, "the shortened period, in milliseconds (1 to 60000)");

static atomic_t rearms = ATOMIC_INIT(0);

static int rearms_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%d\n", atomic_read(&rearms));
}

static const struct kernel_param_ops rearms_ops = {
	.get = rearms_get,
};
module_param_cb(rearms, &rearms_ops, NULL, 0444);
MODULE_PARM_DESC(rearms, "mod_timer() calls shortened so far");

/* mod_timer(struct timer_list *timer, unsigned long expires) */
static int mod_timer_pre(struct kprobe *p, struct pt_regs *regs)
{
	struct timer_list *timer = (struct timer_list *)regs_get_kernel_argument(regs, 0);
	unsigned long callback = (unsigned long)READ_ONCE(timer->function);
	int i;

	for (i = 0; i < nfunctions; i++) {
		if (callback != function[i])
			continue;
		/* mod_timer() goes on with the registers as left here. */
		regs->si = jiffies + msecs_to_jiffies(period_ms);
		atomic_inc(&rearms);
		break;
	}
	return 0;
}

static struct kprobe mod_timer_probe = {
	.symbol_name = "mod_timer",
	.pre_handler = mod_timer_pre,
};

static int __init slh_test_timer_init(void)
{
	int i, err;

	if (!nfunctions || !period_ms || period_ms > 60000)
		return -EINVAL;
	for (i = 0; i < nfunctions; i++)
		if (!function[i])
			return -EINVAL;
	err = register_kprobe(&mod_timer_probe);
	if (err) {
		pr_err("cannot probe mod_timer: %d\n", err);
		return err;
	}
	pr_info("timers of %d callbacks now run every %u ms\n", nfunctions,
		period_ms);
	return 0;
}

static void __exit slh_test_timer_exit(void)
{
	unregister_kprobe(&mod_timer_probe);
}

module_init(slh_test_timer_init);
module_exit(slh_test_timer_exit);
MODULE_DESCRIPTION("qemu-tests only: shorten the period of chosen timers");
MODULE_LICENSE("GPL");
