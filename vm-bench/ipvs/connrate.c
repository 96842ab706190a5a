// SPDX-License-Identifier: GPL-2.0
/*
 * connrate - connections per second through a service, with one process.
 *
 *   connrate serve PORT NAME
 *	accepts on PORT (all addresses), sends the one-character NAME and
 *	closes: the server closes first, so the client's ports leave no
 *	TIME_WAIT behind and can be used again at once.
 *   connrate client ADDR PORT SECONDS CONCURRENCY SRC[,SRC...]
 *	keeps CONCURRENCY connections in flight from the source addresses in
 *	turn, each connect -> read NAME -> close, for SECONDS; prints
 *	"conns=N seconds=S rate=R failed=F" and how many connections each
 *	server NAME answered.
 *
 * One epoll loop per process: a process per connection would measure exec
 * and fork, not the director (and under emulation an exec costs ~0.5 s).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void __attribute__((noreturn)) serve(int port, char name)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	int one = 1, l, c;

	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0)
		die("socket");
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 4096))
		die("bind/listen");
	printf("listening\n");
	fflush(stdout);
	for (;;) {
		c = accept(l, NULL, NULL);
		if (c < 0)
			continue;
		if (write(c, &name, 1) != 1)
			perror("write");
		close(c);
	}
}

struct client {
	struct sockaddr_in dst;
	struct in_addr src[64];
	int nsrc, next_src, ep;
	long conns, failed, per_name[256];
};

static int open_one(struct client *cl)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
	int one = 1, s;

	s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (s < 0)
		die("socket");
	/* Port chosen at connect(), per 4-tuple: every source has 64k. */
	setsockopt(s, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	sa.sin_addr = cl->src[cl->next_src++ % cl->nsrc];
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)))
		die("bind");
	if (connect(s, (struct sockaddr *)&cl->dst, sizeof(cl->dst)) &&
	    errno != EINPROGRESS)
		die("connect");
	ev.data.fd = s;
	if (epoll_ctl(cl->ep, EPOLL_CTL_ADD, s, &ev))
		die("epoll_ctl");
	return s;
}

static int client(int argc, char **argv)
{
	static struct client cl;
	struct epoll_event evs[256];
	double seconds, start, end;
	int conc, i, n;
	char *tok, *save = NULL, c;

	if (argc < 7)
		return 2;
	cl.dst.sin_family = AF_INET;
	cl.dst.sin_port = htons(atoi(argv[3]));
	if (inet_pton(AF_INET, argv[2], &cl.dst.sin_addr) != 1)
		die("address");
	seconds = atof(argv[4]);
	conc = atoi(argv[5]);
	for (tok = strtok_r(argv[6], ",", &save); tok && cl.nsrc < 64;
	     tok = strtok_r(NULL, ",", &save))
		if (inet_pton(AF_INET, tok, &cl.src[cl.nsrc++]) != 1)
			die("source address");
	cl.ep = epoll_create1(0);
	if (cl.ep < 0)
		die("epoll_create1");
	start = now();
	end = start + seconds;
	for (i = 0; i < conc; i++)
		open_one(&cl);
	while (now() < end) {
		n = epoll_wait(cl.ep, evs, 256, 100);
		for (i = 0; i < n; i++) {
			int s = evs[i].data.fd;

			if (read(s, &c, 1) == 1) {
				cl.conns++;
				cl.per_name[(unsigned char)c]++;
			} else {
				cl.failed++;
			}
			close(s);
			open_one(&cl);
		}
	}
	end = now();
	printf("conns=%ld seconds=%.3f rate=%.1f failed=%ld", cl.conns,
	       end - start, cl.conns / (end - start), cl.failed);
	for (i = 0; i < 256; i++)
		if (cl.per_name[i])
			printf(" %c=%ld", i, cl.per_name[i]);
	printf("\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "serve"))
		serve(atoi(argv[2]), argv[3][0]);
	if (argc >= 2 && !strcmp(argv[1], "client"))
		return client(argc, argv);
	fprintf(stderr,
		"usage: connrate serve PORT NAME\n"
		"       connrate client ADDR PORT SECONDS CONCURRENCY SRC[,SRC...]\n");
	return 2;
}
