// SPDX-License-Identifier: GPL-2.0
/*
 * ipvs_sched_bench - the cost of an IPVS scheduler's schedule(), away from
 * the network path, whichever module (C or Rust) registered the scheduler.
 *
 * The service is a real one: it is created, given its real servers and
 * deleted through IPVS's own control code (nf_setsockopt(), the calls ipvsadm
 * makes), in the network namespace of the process that writes the command.
 * IPVS keeps its services to itself (no exported lookup), so the service is
 * first bound to a scheduler of this module, "slhbench", whose add_dest()
 * hands over the service pointer; then the service is switched to the
 * scheduler under test as "ipvsadm -E -s NAME" does. The timed loop calls
 * svc->scheduler->schedule() the way ip_vs_schedule() does: under the RCU
 * read lock, with bottom halves off as in softirq.
 *
 * Commands are written to /sys/module/ipvs_sched_bench/parameters/cmd, one
 * at a time; the outcome of the last one is read from .../parameters/result:
 *
 *   setup SCHED NDESTS   service 198.18.200.1:80 (TCP, NAT) with NDESTS real
 *                        servers 10.200.0.1... (weights 1..4), bound to SCHED
 *   time MS TARGETS      schedule() calls for MS ms (after a warm-up of
 *                        TARGETS calls, at least 1000); the destination
 *                        address cycles over TARGETS addresses (0: the VIP)
 *   fill N               N calls, each to a new destination address
 *   base MS              the same loop for MS ms, each call to a function
 *                        that does nothing: the loop's own share of a call
 *   lock MS              as base, each call inside spin_lock_bh() and
 *                        spin_unlock_bh() of the service's sched_lock: what
 *                        the lock pair adds to a call (wrr takes it)
 *   stop                 deletes the service, timed
 *   teardown             deletes the anchor service, ends the session
 *
 * The service the commands work on belongs to the session: nothing else may
 * change IPVS in that namespace until teardown (the bench scripts use a
 * namespace of their own).
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/in.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/net.h>
#include <linux/netfilter.h>
#include <linux/nsproxy.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sockptr.h>
#include <net/ip_vs.h>
#include <net/net_namespace.h>

#define BENCH_SCHED	"slhbench"
/* 198.18.0.0/15 is the benchmarking range: nothing here is routed. */
#define BENCH_VIP	0xc612c801	/* 198.18.200.1, the measured service */
#define ANCHOR_VIP	0xc612c802	/* 198.18.200.2, see bench_setup() */
#define BENCH_PORT	80
#define DEST_BASE	0x0ac80000	/* 10.200.0.0: real server k is +k */
#define DEST_PORT	8080
#define TARGET_BASE	0x0b000000	/* 11.0.0.0: destination address i is +i */
#define MAX_DESTS	1000
/*
 * Calls per RCU read-side section: short enough not to hold back grace
 * periods or softirqs, long enough that the lock, the clock reads and the
 * reschedule point between batches cost little per call.
 */
#define BATCH		256

static DEFINE_MUTEX(bench_lock);	/* one command at a time */

/* The session, from setup to teardown; all under bench_lock. */
static struct net *bench_net;		/* namespace of setup (reference held) */
static struct socket *bench_sock;	/* kernel socket there, for nf_setsockopt */
static struct ip_vs_service *bench_svc;	/* service under measurement */
static int bench_ndests;

/* Written by slhbench's add_dest() while setup adds the first real server. */
static struct ip_vs_service *captured_svc;

static char bench_result[256];
module_param_string(result, bench_result, sizeof(bench_result), 0444);
MODULE_PARM_DESC(result, "outcome of the last command");

/*
 * The pointer to the service is taken when IPVS links its first real server,
 * not in init_service(): by then the service is complete and hashed, so a
 * failed add cannot leave us a pointer to a freed service.
 */
static int slhbench_add_dest(struct ip_vs_service *svc,
			     struct ip_vs_dest *dest)
{
	/*
	 * Only the service setup creates, in the namespace of the session
	 * (compared by address: someone else's service may come here too).
	 */
	if (svc->ipvs->net == READ_ONCE(bench_net) && svc->af == AF_INET &&
	    svc->addr.ip == htonl(BENCH_VIP) && svc->port == htons(BENCH_PORT))
		WRITE_ONCE(captured_svc, svc);
	return 0;
}

/* Never bound to a service that gets traffic; refuse if it ever is. */
static struct ip_vs_dest *slhbench_schedule(struct ip_vs_service *svc,
					    const struct sk_buff *skb,
					    struct ip_vs_iphdr *iph)
{
	ip_vs_scheduler_err(svc, "slhbench schedules nothing");
	return NULL;
}

static struct ip_vs_scheduler slhbench_scheduler = {
	.name =		BENCH_SCHED,
	.refcnt =	ATOMIC_INIT(0),
	.module =	THIS_MODULE,
	.n_list =	LIST_HEAD_INIT(slhbench_scheduler.n_list),
	.add_dest =	slhbench_add_dest,
	.schedule =	slhbench_schedule,
};

/* IPVS's control call, as ipvsadm makes it, from the kernel. */
static int ipvs_ctl(int cmd, const void *arg, unsigned int len)
{
	return nf_setsockopt(bench_sock->sk, PF_INET, cmd,
			     KERNEL_SOCKPTR((void *)arg), len);
}

static void svc_user(struct ip_vs_service_user *u, u32 vip, const char *sched)
{
	memset(u, 0, sizeof(*u));
	u->protocol = IPPROTO_TCP;
	u->addr = htonl(vip);
	u->port = htons(BENCH_PORT);
	u->netmask = htonl(0xffffffff);
	strscpy(u->sched_name, sched, sizeof(u->sched_name));
}

static int add_dest(u32 addr, int weight)
{
	struct {
		struct ip_vs_service_user svc;
		struct ip_vs_dest_user dest;
	} __packed arg;

	svc_user(&arg.svc, BENCH_VIP, BENCH_SCHED);
	memset(&arg.dest, 0, sizeof(arg.dest));
	arg.dest.addr = htonl(addr);
	arg.dest.port = htons(DEST_PORT);
	arg.dest.conn_flags = IP_VS_CONN_F_MASQ;
	arg.dest.weight = weight;
	return ipvs_ctl(IP_VS_SO_SET_ADDDEST, &arg, sizeof(arg));
}

static void end_session(void)
{
	if (bench_sock)
		sock_release(bench_sock);
	if (bench_net)
		put_net(bench_net);
	bench_sock = NULL;
	bench_net = NULL;
	bench_svc = NULL;
}

static int bench_setup(const char *sched, int ndests)
{
	struct ip_vs_service_user u;
	int i, ret;

	if (bench_svc)
		return -EBUSY;
	if (ndests < 1 || ndests > MAX_DESTS)
		return -EINVAL;
	if (!bench_net) {
		bench_net = get_net(current->nsproxy->net_ns);
		ret = sock_create_kern(bench_net, PF_INET, SOCK_DGRAM,
				       IPPROTO_UDP, &bench_sock);
		if (ret) {
			bench_sock = NULL;
			end_session();
			return ret;
		}
		/*
		 * A second service that stays until teardown: deleting the
		 * last service of a namespace unregisters IPVS's netfilter
		 * hooks (a grace period), which would swamp the timed stop.
		 */
		svc_user(&u, ANCHOR_VIP, BENCH_SCHED);
		ret = ipvs_ctl(IP_VS_SO_SET_ADD, &u, sizeof(u));
		if (ret && ret != -EEXIST) {
			end_session();
			return ret;
		}
	}

	svc_user(&u, BENCH_VIP, BENCH_SCHED);
	ret = ipvs_ctl(IP_VS_SO_SET_ADD, &u, sizeof(u));
	if (ret)
		return ret;
	WRITE_ONCE(captured_svc, NULL);
	for (i = 0; i < ndests; i++) {
		/* Unequal weights, so that wrr has real cycles to walk. */
		ret = add_dest(DEST_BASE + 1 + i, 1 + i % 4);
		if (ret)
			goto out_del;
	}
	bench_svc = READ_ONCE(captured_svc);
	if (!bench_svc) {
		ret = -ESRCH;
		goto out_del;
	}
	/* Now the scheduler under test, as "ipvsadm -E -s SCHED". */
	svc_user(&u, BENCH_VIP, sched);
	ret = ipvs_ctl(IP_VS_SO_SET_EDIT, &u, sizeof(u));
	if (ret)
		goto out_del;
	bench_ndests = ndests;
	return 0;

out_del:
	bench_svc = NULL;
	svc_user(&u, BENCH_VIP, BENCH_SCHED);
	ipvs_ctl(IP_VS_SO_SET_DEL, &u, sizeof(u));
	return ret;
}

static __be32 target(u32 targets, u64 i)
{
	if (!targets)
		return htonl(BENCH_VIP);
	return htonl(TARGET_BASE + (u32)(i % targets));
}

/* What the timed loop calls. */
enum bench_loop {
	LOOP_SCHEDULER,		/* the bound scheduler's schedule() */
	LOOP_BASE,		/* bench_noop() instead */
	LOOP_LOCK,		/* bench_noop() under the service's sched_lock */
};

/*
 * The baseline's callee, called through a pointer the compiler cannot see
 * through (READ_ONCE), as schedule() is: the same indirect call.
 */
static struct ip_vs_dest *bench_noop(struct ip_vs_service *svc,
				     const struct sk_buff *skb,
				     struct ip_vs_iphdr *iph)
{
	return NULL;
}

static struct ip_vs_dest *(*bench_noop_ptr)(struct ip_vs_service *svc,
					    const struct sk_buff *skb,
					    struct ip_vs_iphdr *iph) = bench_noop;

/*
 * @calls calls, or as many as fit in @min_ns if @calls is 0; returns the sum
 * of the batches' times, without the reschedule points between them, and the
 * time of the fastest full batch: interrupts, and the host preempting the
 * emulator's thread, only ever add time to a batch, so the fastest one is the
 * closest to the scheduler's own cost.
 */
static int run_calls(enum bench_loop what, u64 calls, u64 min_ns, u32 targets,
		     u64 *done, u64 *refused, u64 *ns, u64 *best)
{
	struct ip_vs_iphdr iph = { .protocol = IPPROTO_TCP };
	const struct ip_vs_scheduler *sched;
	u64 i = 0, t0, batch_ns;
	struct ip_vs_dest *dest;
	int j;

	*done = 0;
	*refused = 0;
	*ns = 0;
	*best = U64_MAX;
	while (calls ? i < calls : *ns < min_ns) {
		local_bh_disable();
		rcu_read_lock();
		t0 = ktime_get_ns();
		sched = rcu_dereference(bench_svc->scheduler);
		if (!sched) {
			rcu_read_unlock();
			local_bh_enable();
			return -ESRCH;
		}
		/* sched_data is read after scheduler, as ip_vs_schedule() */
		smp_rmb();
		for (j = 0; j < BATCH && (!calls || i < calls); j++, i++) {
			iph.daddr.ip = target(targets, i);
			/* the key of sh and mh: one client per target */
			iph.saddr.ip = iph.daddr.ip;
			switch (what) {
			case LOOP_SCHEDULER:
				dest = sched->schedule(bench_svc, NULL, &iph);
				break;
			case LOOP_BASE:
				dest = READ_ONCE(bench_noop_ptr)(bench_svc, NULL,
								 &iph);
				break;
			default:
				spin_lock_bh(&bench_svc->sched_lock);
				dest = READ_ONCE(bench_noop_ptr)(bench_svc, NULL,
								 &iph);
				spin_unlock_bh(&bench_svc->sched_lock);
				break;
			}
			if (!dest)
				(*refused)++;
		}
		batch_ns = ktime_get_ns() - t0;
		*ns += batch_ns;
		if (j == BATCH && batch_ns < *best)
			*best = batch_ns;
		rcu_read_unlock();
		local_bh_enable();
		cond_resched();
	}
	*done = i;
	return 0;
}

static void result_calls(u64 done, u64 refused, u64 ns, u64 best)
{
	const struct ip_vs_scheduler *sched;
	const char *name = "?", *mod = "?";

	/* The names say which implementation answered: C or Rust module. */
	rcu_read_lock();
	sched = rcu_dereference(bench_svc->scheduler);
	if (sched) {
		name = sched->name;
		mod = sched->module ? module_name(sched->module) : "built-in";
	}
	snprintf(bench_result, sizeof(bench_result),
		 "sched=%s module=%s dests=%d calls=%llu refused=%llu ns=%llu best_batch_ns=%llu batch=%d\n",
		 name, mod, bench_ndests, done, refused, ns,
		 best == U64_MAX ? 0 : best, BATCH);
	rcu_read_unlock();
}

static int bench_time(u64 ms, u32 targets)
{
	u64 done, refused, ns, best;
	int ret;

	if (!bench_svc)
		return -ENOENT;
	/* Warm-up: lblc and lblcr cache every target before the clock runs. */
	ret = run_calls(LOOP_SCHEDULER, max_t(u64, targets, 1000), 0, targets,
			&done, &refused, &ns, &best);
	if (!ret)
		ret = run_calls(LOOP_SCHEDULER, 0, ms * NSEC_PER_MSEC, targets,
				&done, &refused, &ns, &best);
	if (!ret)
		result_calls(done, refused, ns, best);
	return ret;
}

/* The loop without a scheduler: @what is LOOP_BASE or LOOP_LOCK. */
static int bench_baseline(enum bench_loop what, u64 ms)
{
	u64 done, refused, ns, best;
	int ret;

	if (!bench_svc)
		return -ENOENT;
	ret = run_calls(what, 1000, 0, 0, &done, &refused, &ns, &best);
	if (!ret)
		ret = run_calls(what, 0, ms * NSEC_PER_MSEC, 0, &done, &refused,
				&ns, &best);
	if (!ret)
		snprintf(bench_result, sizeof(bench_result),
			 "baseline=%s dests=%d calls=%llu ns=%llu best_batch_ns=%llu batch=%d\n",
			 what == LOOP_BASE ? "base" : "lock", bench_ndests, done,
			 ns, best == U64_MAX ? 0 : best, BATCH);
	return ret;
}

static int bench_fill(u64 n)
{
	u64 done, refused, ns, best;
	int ret;

	if (!bench_svc)
		return -ENOENT;
	ret = run_calls(LOOP_SCHEDULER, n, 0, n, &done, &refused, &ns, &best);
	if (!ret)
		result_calls(done, refused, ns, best);
	return ret;
}

static int bench_stop(void)
{
	struct ip_vs_service_user u;
	u64 t0, ns;
	int ret;

	if (!bench_svc)
		return -ENOENT;
	svc_user(&u, BENCH_VIP, BENCH_SCHED);
	/* The scheduler's done_service() flushes its table in here. */
	t0 = ktime_get_ns();
	ret = ipvs_ctl(IP_VS_SO_SET_DEL, &u, sizeof(u));
	ns = ktime_get_ns() - t0;
	bench_svc = NULL;
	if (ret)
		return ret;
	/*
	 * The schedulers free their entries after a grace period: wait for
	 * that, so that memory readings and module unloads see it done.
	 */
	rcu_barrier();
	snprintf(bench_result, sizeof(bench_result), "stop ns=%llu\n", ns);
	return 0;
}

static int bench_teardown(void)
{
	struct ip_vs_service_user u;
	int ret = 0;

	if (!bench_net)
		return 0;
	if (bench_svc)
		ret = bench_stop();
	svc_user(&u, ANCHOR_VIP, BENCH_SCHED);
	ipvs_ctl(IP_VS_SO_SET_DEL, &u, sizeof(u));
	end_session();
	return ret;
}

static int bench_cmd(const char *val, const struct kernel_param *kp)
{
	char word[16], sched[IP_VS_SCHEDNAME_MAXLEN];
	unsigned long long a;
	unsigned int b;
	int ret = -EINVAL;

	if (sscanf(val, "%15s", word) != 1)
		return -EINVAL;
	mutex_lock(&bench_lock);
	bench_result[0] = '\0';
	if (!strcmp(word, "setup") &&
	    sscanf(val, "%*s %15s %u", sched, &b) == 2)
		ret = bench_setup(sched, b);
	else if (!strcmp(word, "time") && sscanf(val, "%*s %llu %u", &a, &b) == 2)
		ret = bench_time(a, b);
	else if (!strcmp(word, "fill") && sscanf(val, "%*s %llu", &a) == 1)
		ret = bench_fill(a);
	else if (!strcmp(word, "base") && sscanf(val, "%*s %llu", &a) == 1)
		ret = bench_baseline(LOOP_BASE, a);
	else if (!strcmp(word, "lock") && sscanf(val, "%*s %llu", &a) == 1)
		ret = bench_baseline(LOOP_LOCK, a);
	else if (!strcmp(word, "stop"))
		ret = bench_stop();
	else if (!strcmp(word, "teardown"))
		ret = bench_teardown();
	if (ret)
		snprintf(bench_result, sizeof(bench_result), "error %d\n", ret);
	mutex_unlock(&bench_lock);
	return ret;
}

static const struct kernel_param_ops cmd_ops = {
	.set = bench_cmd,
};
module_param_cb(cmd, &cmd_ops, NULL, 0200);
MODULE_PARM_DESC(cmd, "setup SCHED NDESTS | time MS TARGETS | fill N | base MS | lock MS | stop | teardown");

static int __init ipvs_sched_bench_init(void)
{
	return register_ip_vs_scheduler(&slhbench_scheduler);
}

static void __exit ipvs_sched_bench_exit(void)
{
	/*
	 * The anchor service holds a reference on this module until
	 * teardown, so only a session whose services someone else deleted
	 * can be left here.
	 */
	mutex_lock(&bench_lock);
	end_session();
	mutex_unlock(&bench_lock);
	unregister_ip_vs_scheduler(&slhbench_scheduler);
}

module_init(ipvs_sched_bench_init);
module_exit(ipvs_sched_bench_exit);
MODULE_DESCRIPTION("Time IPVS schedulers' schedule() outside the packet path");
MODULE_LICENSE("GPL");
