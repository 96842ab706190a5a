// SPDX-License-Identifier: GPL-2.0
/*
 * Pre-fork TCP server for the accept-path benchmark (vm-bench/README.md, section 3).
 *
 * usage: accept_server MODE WORKERS WAIT ADDRESS PORT
 *   MODE     shared     one listen socket accepted from by every worker
 *            reuseport  one SO_REUSEPORT socket per worker; a classic BPF program picks
 *                       socket (client IPv4 address mod WORKERS)
 *            slh        one listen socket with SO_SOCKLEVELHASH, WORKERS queues, worker i
 *                       registered to queue i with SO_SOCKADDLSPH
 *   WAIT     epoll      non-blocking listener, level-triggered epoll, one accept per return
 *            epollexcl  the same with EPOLLEXCLUSIVE
 *            blocking   blocking accept()
 *
 * Environment (the availability benchmark): SLH_MAX_WAIT_MS sets the bounded wait of mode slh
 * (the 20-byte struct; unset: the int form, whose wait is the kernel's default), and
 * SLOW_WORKER_MS makes worker 0 slow: it sleeps that long after each connection it serves.
 *
 * Each worker accepts a connection, answers "worker I\n" at once (the server speaks first)
 * and closes. The parent prints "ready" once every worker has set up; on SIGTERM it reads the
 * socket-level hash counters (mode slh), stops the workers and prints one JSON object with
 * each worker's counts: accepted, wait_returns (epoll_wait returns with an event, or accept
 * returns in blocking mode), eagain (accepts that found nothing) and wakeups: how often the
 * worker was put to sleep and woken inside its wait call (epoll_wait or a blocking accept),
 * the growth of its voluntary context switches (getrusage(RUSAGE_THREAD)) across those calls.
 * A wake-up that finds nothing and sleeps again inside the kernel (the thundering herd of a
 * shared listener) counts there although the call does not return; the same count in every
 * mode gives wake-ups per accepted connection.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* The project's uapi (include/uapi/linux/sock_level_hash.h, userspace/README.md). */
#define SO_SOCKLEVELHASH 81
#define SO_SOCKADDLSPH 82
#define SO_SOCKLEVELHASH_INFO 83

struct sock_level_hash_info {
	uint32_t queues;
	uint32_t hash;
	uint32_t input;
	uint32_t registered;
	uint64_t normal_queued;
	uint64_t normal_accepted;
	uint32_t max_wait_ms;
	uint32_t share;
};

struct sock_level_hash {
	uint32_t queues;
	uint32_t hash;
	uint32_t input;
	uint32_t flags;
	uint32_t max_wait_ms;
};

struct sock_level_hash_queue {
	int32_t owner_pid;
	uint32_t depth;
	uint64_t queued;
	uint64_t accepted;
	uint64_t moved;
	uint64_t wakeups;
	uint64_t expired;
	uint64_t overflowed;
	uint32_t buckets;
	uint32_t standby;
	uint32_t demotions;
	uint32_t promotions;
};

#define MAX_WORKERS 64

enum mode { SHARED, REUSEPORT, SLH };
enum wait_style { EPOLL, EPOLL_EXCLUSIVE, BLOCKING };

struct worker_counts {
	uint64_t accepted;
	uint64_t wait_returns;
	uint64_t eagain;
	uint64_t errors;
	uint64_t wakeups;
};

/* Voluntary context switches of the calling thread so far. */
static uint64_t sleeps(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru))
		return 0;
	return ru.ru_nvcsw;
}

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* SIGTERM interrupts accept() and epoll_wait() (no SA_RESTART), so workers see `stopping`. */
static void catch_term(void)
{
	struct sigaction sa = { .sa_handler = on_term };

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL))
		die("sigaction");
}

static int listener(const char *address, int port, int reuseport, int nonblocking)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | (nonblocking ? SOCK_NONBLOCK : 0), 0);

	if (fd < 0)
		die("socket");
	if (inet_pton(AF_INET, address, &sin.sin_addr) != 1) {
		fprintf(stderr, "bad address %s\n", address);
		exit(2);
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		die("SO_REUSEADDR");
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
		die("SO_REUSEPORT");
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)))
		die("bind");
	if (listen(fd, 4096))
		die("listen");
	return fd;
}

/*
 * The stock kernel's way to keep a client on one worker: the reuseport group's program
 * returns the index of the socket (in listen() order). For TCP the packet starts at the
 * transport header; SKF_NET_OFF + 12 is the IPv4 source address, loaded in host order.
 */
static void attach_client_ip_mod(int fd, unsigned int workers)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_NET_OFF + 12),
		BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, workers),
		BPF_STMT(BPF_RET | BPF_A, 0),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };

	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)))
		die("SO_ATTACH_REUSEPORT_CBPF");
}

/*
 * The server speaks first ("worker I\n") and closes: the shortest exchange, so that the
 * accept path is most of what is timed.
 */
static void serve(int conn, int index)
{
	char answer[32];
	int len = snprintf(answer, sizeof(answer), "worker %d\n", index);

	if (send(conn, answer, len, MSG_NOSIGNAL) < 0) {
		/* the client went away: nothing to do but close */
	}
	close(conn);
}

static void count_accept_error(struct worker_counts *c)
{
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		c->eagain++;
	else if (errno != EINTR && errno != ECONNABORTED)
		c->errors++;
}

static unsigned int slow_ms; /* worker 0's pause after each connection */

static void serve_counted(int conn, int index, struct worker_counts *c)
{
	c->accepted++;
	serve(conn, index);
	if (index == 0 && slow_ms)
		usleep(slow_ms * 1000);
}

static void worker_blocking(int fd, int index, struct worker_counts *c)
{
	while (!stopping) {
		uint64_t before = sleeps();
		int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

		c->wakeups += sleeps() - before;
		if (stopping)
			break;
		c->wait_returns++;
		if (conn < 0) {
			count_accept_error(c);
			continue;
		}
		serve_counted(conn, index, c);
	}
}

static void worker_epoll(int fd, int index, int exclusive, struct worker_counts *c)
{
	struct epoll_event ev = { .events = EPOLLIN | (exclusive ? EPOLLEXCLUSIVE : 0) };
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
		die("epoll");
	while (!stopping) {
		uint64_t before = sleeps();
		int n = epoll_wait(ep, &ev, 1, -1);
		int conn;

		c->wakeups += sleeps() - before;
		if (n <= 0)
			continue;
		c->wait_returns++;
		conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0) {
			count_accept_error(c);
			continue;
		}
		serve_counted(conn, index, c);
	}
}

static void worker(int fd, int index, enum mode mode, enum wait_style wait, int ready, int report)
{
	struct worker_counts c = { 0 };
	char line[256];
	int len;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (mode == SLH && setsockopt(fd, SOL_SOCKET, SO_SOCKADDLSPH, &index, sizeof(index)))
		die("SO_SOCKADDLSPH");
	if (write(ready, "r", 1) != 1)
		die("ready pipe");
	if (wait == BLOCKING)
		worker_blocking(fd, index, &c);
	else
		worker_epoll(fd, index, wait == EPOLL_EXCLUSIVE, &c);
	len = snprintf(line, sizeof(line),
		       "{\"index\": %d, \"pid\": %d, \"accepted\": %llu, \"wait_returns\": %llu, "
		       "\"eagain\": %llu, \"errors\": %llu, \"wakeups\": %llu}",
		       index, getpid(), (unsigned long long)c.accepted,
		       (unsigned long long)c.wait_returns, (unsigned long long)c.eagain,
		       (unsigned long long)c.errors, (unsigned long long)c.wakeups);
	/* One write of less than PIPE_BUF: the workers' lines never interleave. */
	if (write(report, line, len + 1) != len + 1)
		die("report pipe");
	exit(0);
}

static void print_slh_info(int fd)
{
	union {
		struct sock_level_hash_info info;
		char bytes[sizeof(struct sock_level_hash_info) +
			   MAX_WORKERS * sizeof(struct sock_level_hash_queue)];
	} buf;
	socklen_t len = sizeof(buf);
	struct sock_level_hash_queue *q;
	unsigned int i, n;

	if (getsockopt(fd, SOL_SOCKET, SO_SOCKLEVELHASH_INFO, &buf, &len))
		die("SO_SOCKLEVELHASH_INFO");
	n = (len - sizeof(buf.info)) / sizeof(*q);
	q = (struct sock_level_hash_queue *)(buf.bytes + sizeof(buf.info));
	printf(", \"slh\": {\"registered\": %u, \"normal_queued\": %llu, \"normal_accepted\": %llu, "
	       "\"max_wait_ms\": %u, \"queues\": [",
	       buf.info.registered, (unsigned long long)buf.info.normal_queued,
	       (unsigned long long)buf.info.normal_accepted, buf.info.max_wait_ms);
	for (i = 0; i < n; i++)
		printf("%s{\"owner_pid\": %d, \"depth\": %u, \"queued\": %llu, \"accepted\": %llu, "
		       "\"moved\": %llu, \"wakeups\": %llu, \"expired\": %llu, \"overflowed\": %llu, "
		       "\"demotions\": %u, \"promotions\": %u}",
		       i ? ", " : "", q[i].owner_pid, q[i].depth, (unsigned long long)q[i].queued,
		       (unsigned long long)q[i].accepted, (unsigned long long)q[i].moved,
		       (unsigned long long)q[i].wakeups, (unsigned long long)q[i].expired,
		       (unsigned long long)q[i].overflowed, q[i].demotions, q[i].promotions);
	printf("]}");
}

int main(int argc, char **argv)
{
	int fds[MAX_WORKERS], ready[2], report[2];
	pid_t pids[MAX_WORKERS];
	enum mode mode;
	enum wait_style wait;
	int workers, port, i, one_fd;
	char buf[MAX_WORKERS * 256];
	size_t got = 0;
	sigset_t term, old;

	if (argc != 6) {
		fprintf(stderr, "usage: %s shared|reuseport|slh WORKERS epoll|epollexcl|blocking ADDRESS PORT\n",
			argv[0]);
		return 2;
	}
	if (!strcmp(argv[1], "shared"))
		mode = SHARED;
	else if (!strcmp(argv[1], "reuseport"))
		mode = REUSEPORT;
	else if (!strcmp(argv[1], "slh"))
		mode = SLH;
	else
		return fprintf(stderr, "unknown mode %s\n", argv[1]), 2;
	workers = atoi(argv[2]);
	if (workers < 1 || workers > MAX_WORKERS)
		return fprintf(stderr, "workers: 1..%d\n", MAX_WORKERS), 2;
	if (!strcmp(argv[3], "epoll"))
		wait = EPOLL;
	else if (!strcmp(argv[3], "epollexcl"))
		wait = EPOLL_EXCLUSIVE;
	else if (!strcmp(argv[3], "blocking"))
		wait = BLOCKING;
	else
		return fprintf(stderr, "unknown wait style %s\n", argv[3]), 2;
	port = atoi(argv[5]);

	for (i = 0; i < workers; i++) {
		if (mode == REUSEPORT || i == 0)
			fds[i] = listener(argv[4], port, mode == REUSEPORT, wait != BLOCKING);
		else
			fds[i] = fds[0];
	}
	one_fd = fds[0];
	if (mode == REUSEPORT)
		attach_client_ip_mod(one_fd, workers);
	if (getenv("SLOW_WORKER_MS"))
		slow_ms = atoi(getenv("SLOW_WORKER_MS"));
	if (mode == SLH && getenv("SLH_MAX_WAIT_MS")) {
		struct sock_level_hash config = {
			.queues = workers, .max_wait_ms = atoi(getenv("SLH_MAX_WAIT_MS")),
		};

		if (setsockopt(one_fd, SOL_SOCKET, SO_SOCKLEVELHASH, &config, sizeof(config)))
			die("SO_SOCKLEVELHASH");
	} else if (mode == SLH &&
		   setsockopt(one_fd, SOL_SOCKET, SO_SOCKLEVELHASH, &workers, sizeof(workers))) {
		die("SO_SOCKLEVELHASH");
	}
	if (pipe(ready) || pipe(report))
		die("pipe");

	/* SIGTERM stays blocked in the parent until it waits for it; workers unblock it. */
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, &old);
	catch_term();
	for (i = 0; i < workers; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			die("fork");
		if (pids[i] == 0) {
			sigprocmask(SIG_SETMASK, &old, NULL);
			close(ready[0]);
			close(report[0]);
			worker(fds[i], i, mode, wait, ready[1], report[1]);
		}
	}
	close(ready[1]);
	close(report[1]);
	for (i = 0; i < workers; i++) {
		char r;

		if (read(ready[0], &r, 1) != 1)
			die("a worker did not start");
	}
	printf("ready\n");
	fflush(stdout);

	while (sigwaitinfo(&term, NULL) < 0)
		;
	printf("{\"mode\": \"%s\", \"workers\": %d, \"wait\": \"%s\"", argv[1], workers, argv[3]);
	if (mode == SLH)
		print_slh_info(one_fd);
	for (i = 0; i < workers; i++)
		kill(pids[i], SIGTERM);
	for (;;) {
		ssize_t n = read(report[0], buf + got, sizeof(buf) - 1 - got);

		if (n <= 0)
			break;
		got += n;
	}
	buf[got] = 0;
	printf(", \"per_worker\": [");
	for (i = 0; i < (int)got;) {
		printf("%s%s", i ? ", " : "", buf + i);
		i += strlen(buf + i) + 1;
	}
	printf("]}\n");
	for (i = 0; i < workers; i++)
		waitpid(pids[i], NULL, 0);
	return 0;
}
