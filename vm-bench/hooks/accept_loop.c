// SPDX-License-Identifier: GPL-2.0
/*
 * The hooks' cost per accepted connection (vm-bench/hooks/run.sh): one process connects to
 * its own listener on 127.0.0.1 and accepts, one connection at a time, and prints the time
 * the batch took per connection. Under QEMU's -icount shift=0 on one CPU, the guest's clock
 * advances 1 ns per instruction executed, so that time is the instructions per connection
 * (the connection's whole life: socket(), the handshake in softirq, accept(), the reset and
 * both close()s), of this process and of whatever else ran on the CPU meanwhile.
 *
 * usage: accept_loop MODE PORT CONNECTIONS ROUNDS
 *   MODE  plain      a listener without options
 *         reuseport  SO_REUSEPORT with a classic BPF program that picks a socket by the
 *                    client's address (modulo 1: the only one), as vm-bench's accept server
 *         slh        SO_SOCKLEVELHASH with one queue, which this process registers to: every
 *                    connection parks in its queue and accept() takes it from there
 *         hold       no measurement: sets SO_SOCKLEVELHASH on a listener of its own, prints
 *                    "ready" and sleeps until killed (a listener with state elsewhere, so
 *                    that the hooks' static key is on while another process measures plain)
 * Prints "ns_per_connection ROUND VALUE" per round (after one warm-up batch).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The project's uapi (include/uapi/linux/sock_level_hash.h, userspace/README.md). */
#define SO_SOCKLEVELHASH 81
#define SO_SOCKADDLSPH 82

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static int listener(const char *mode, struct sockaddr_in *addr)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1, queues = 1, queue = 0;

	if (fd < 0)
		die("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		die("SO_REUSEADDR");
	if (!strcmp(mode, "reuseport")) {
		struct sock_filter code[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_NET_OFF + 12),
			BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, 1),
			BPF_STMT(BPF_RET | BPF_A, 0),
		};
		struct sock_fprog prog = { .len = 3, .filter = code };

		if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
			die("SO_REUSEPORT");
		if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)))
			die("SO_ATTACH_REUSEPORT_CBPF");
	}
	if ((!strcmp(mode, "slh") || !strcmp(mode, "hold")) &&
	    setsockopt(fd, SOL_SOCKET, SO_SOCKLEVELHASH, &queues, sizeof(queues)))
		die("SO_SOCKLEVELHASH");
	if (bind(fd, (struct sockaddr *)addr, sizeof(*addr)))
		die("bind");
	if (listen(fd, 128))
		die("listen");
	if (!strcmp(mode, "slh") &&
	    setsockopt(fd, SOL_SOCKET, SO_SOCKADDLSPH, &queue, sizeof(queue)))
		die("SO_SOCKADDLSPH");
	return fd;
}

/* One connection: connect (the handshake completes in softirq before connect() returns),
 * accept, reset from the client (no TIME_WAIT to pile up), close both.
 */
static void one_connection(int lfd, const struct sockaddr_in *addr)
{
	struct linger reset = { .l_onoff = 1, .l_linger = 0 };
	int c = socket(AF_INET, SOCK_STREAM, 0), a;

	if (c < 0)
		die("socket");
	if (connect(c, (const struct sockaddr *)addr, sizeof(*addr)))
		die("connect");
	a = accept(lfd, NULL, NULL);
	if (a < 0)
		die("accept");
	if (setsockopt(c, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset)))
		die("SO_LINGER");
	close(c);
	close(a);
}

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	long connections, rounds, round, i;
	const char *mode;
	double start;
	int lfd;

	if (argc != 5) {
		fprintf(stderr, "usage: accept_loop plain|reuseport|slh|hold PORT CONNECTIONS ROUNDS\n");
		return 2;
	}
	mode = argv[1];
	addr.sin_port = htons(atoi(argv[2]));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	connections = atol(argv[3]);
	rounds = atol(argv[4]);
	lfd = listener(mode, &addr);
	if (!strcmp(mode, "hold")) {
		printf("ready\n");
		fflush(stdout);
		pause();
		return 0;
	}
	for (round = 0; round <= rounds; round++) {
		start = now_ns();
		for (i = 0; i < connections; i++)
			one_connection(lfd, &addr);
		if (round > 0)
			printf("ns_per_connection %ld %.1f\n", round, (now_ns() - start) / connections);
	}
	return 0;
}
