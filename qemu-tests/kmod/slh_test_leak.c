// SPDX-License-Identifier: GPL-2.0
/*
 * slh_test_leak - leaks one allocation on purpose, for make test-debug to show
 * that its kmemleak scans find a leak: the guest runner loads it before the
 * tests and requires a report whose backtrace names this module.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>

/*
 * Not __init: the report's backtrace names the allocating function, which
 * must still be there (init text is freed) when the report is printed.
 */
static noinline bool slh_test_leak_alloc(void)
{
	void *leaked = kmalloc(128, GFP_KERNEL);

	if (!leaked)
		return false;
	memset(leaked, 0x5a, 128);
	/* Nothing keeps the pointer: the object is unreferenced from now on. */
	return true;
}

static int __init slh_test_leak_init(void)
{
	if (!slh_test_leak_alloc())
		return -ENOMEM;
	pr_info("leaked 128 bytes on purpose\n");
	return 0;
}

static void __exit slh_test_leak_exit(void)
{
}

module_init(slh_test_leak_init);
module_exit(slh_test_leak_exit);
MODULE_DESCRIPTION("qemu-tests only: leak one allocation for kmemleak to find");
MODULE_LICENSE("GPL");
