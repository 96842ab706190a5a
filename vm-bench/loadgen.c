// SPDX-License-Identifier: GPL-2.0
/*
 * Closed-loop TCP load generator for the VM benchmarks (vm-bench/README.md).
 *
 * usage: loadgen SERVER PORT SOURCES CONCURRENCY WARMUP DURATION [REQUEST]
 *   SOURCES      file with one IPv4 client address per line; connection k binds address
 *                k mod count, so every address opens about the same number of connections
 *   CONCURRENCY  connections kept open at once (each is replaced as soon as it ends)
 *   WARMUP       seconds run before measuring; DURATION seconds measured
 *   REQUEST      what each connection sends once connected (default: nothing, the server
 *                speaks first)
 *
 * One thread and one epoll set: under TCG a process per client would be the bottleneck.
 * A connection counts in the window if its response ends (EOF) within it; its latency is from
 * the connect() call to the first byte of the response. The response must contain
 * "worker ID"; the ID tells which server worker answered. Prints one JSON object: counts,
 * latency percentiles, and for each source address the workers that answered it.
 *
 * Environment (section 7, vm-bench/README.md): LOADGEN_TIMEOUT_MS closes a connection that has
 * not ended that long after its connect() and counts it as timed out (default: no timeout);
 * LOADGEN_LOG=PATH writes one line per measured connection to PATH: its connect() time and
 * end time (CLOCK_MONOTONIC seconds), the source address's index in SOURCES, the worker ID
 * that answered it (or -) and how it ended: ok, refused (connect failed), reset (an error
 * after connect), noid (no "worker ID" in the response) or timeout.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SOURCES 4096
#define MAX_WORKER_IDS 64
#define MAX_CONCURRENCY 4096
#define RESPONSE_MAX 512

struct conn {
	int fd;
	int source;
	int connected;
	double started;
	double first_byte;
	size_t got;
	char response[RESPONSE_MAX];
};

static struct in_addr sources[MAX_SOURCES];
static int source_count;
static char worker_ids[MAX_WORKER_IDS][32];
static int worker_id_count;
/* answered[source][worker id]: connections of that source answered by that worker */
static uint32_t answered[MAX_SOURCES][MAX_WORKER_IDS];
static struct conn conns[MAX_CONCURRENCY];
static struct sockaddr_in server;
static const char *request = "";
static size_t request_len;
static int ep;
static double measure_from; /* the end of the warm-up */
static unsigned long next_source;

static uint32_t *latencies;
static size_t latency_count, latency_cap;
static unsigned long completed, connects, connect_errors, io_errors, unidentified, timed_out;
static FILE *conn_log;
static double timeout_s;

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

static void read_sources(const char *path)
{
	char line[64];
	FILE *f = fopen(path, "r");

	if (!f)
		die(path);
	while (fgets(line, sizeof(line), f) && source_count < MAX_SOURCES) {
		line[strcspn(line, " \r\n")] = 0;
		if (!*line)
			continue;
		if (inet_pton(AF_INET, line, &sources[source_count]) != 1) {
			fprintf(stderr, "bad source address %s\n", line);
			exit(2);
		}
		source_count++;
	}
	fclose(f);
	if (!source_count) {
		fprintf(stderr, "no source addresses in %s\n", path);
		exit(2);
	}
}

static int worker_id(const char *response)
{
	const char *p = strstr(response, "worker ");
	char id[32];
	int i;

	if (!p)
		return -1;
	p += strlen("worker ");
	for (i = 0; i < (int)sizeof(id) - 1 && p[i] && p[i] != '\n' && p[i] != '\r' && p[i] != ' '; i++)
		id[i] = p[i];
	id[i] = 0;
	for (i = 0; i < worker_id_count; i++)
		if (!strcmp(worker_ids[i], id))
			return i;
	if (worker_id_count == MAX_WORKER_IDS)
		return -1;
	strcpy(worker_ids[worker_id_count], id);
	return worker_id_count++;
}

/* One line of LOADGEN_LOG for a measured connection that ended. */
static void log_conn(const struct conn *c, const char *id, const char *how)
{
	if (conn_log)
		fprintf(conn_log, "%.6f %.6f %d %s %s\n", c->started, now(), c->source, id ? id : "-", how);
}

static void start(struct conn *c)
{
	struct sockaddr_in local = { .sin_family = AF_INET };
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
	int one = 1;

	for (;;) {
		c->source = next_source++ % source_count;
		local.sin_addr = sources[c->source];
		c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (c->fd < 0)
			die("socket");
		/* The port is chosen at connect() for the whole 4-tuple, not at bind() per address. */
		setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(c->fd, (struct sockaddr *)&local, sizeof(local)))
			die("bind to a source address");
		c->connected = 0;
		c->got = 0;
		c->first_byte = 0;
		c->started = now();
		if (connect(c->fd, (struct sockaddr *)&server, sizeof(server)) == 0 || errno == EINPROGRESS)
			break;
		connect_errors++;
		if (now() >= measure_from)
			log_conn(c, NULL, "refused");
		close(c->fd);
	}
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev))
		die("epoll_ctl");
}

static void record(struct conn *c)
{
	int id;

	c->response[c->got < RESPONSE_MAX ? c->got : RESPONSE_MAX - 1] = 0;
	id = worker_id(c->response);
	if (id < 0) {
		unidentified++;
		log_conn(c, NULL, "noid");
		return;
	}
	log_conn(c, worker_ids[id], "ok");
	answered[c->source][id]++;
	completed++;
	if (latency_count == latency_cap) {
		latency_cap = latency_cap ? 2 * latency_cap : 65536;
		latencies = realloc(latencies, latency_cap * sizeof(*latencies));
		if (!latencies)
			die("realloc");
	}
	latencies[latency_count++] = (uint32_t)((c->first_byte - c->started) * 1e6);
}

/* Returns 1 when the connection is over (closed by us). */
static int step(struct conn *c, uint32_t events, int measuring)
{
	if (!c->connected) {
		int err = 0;
		socklen_t len = sizeof(err);
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err || (events & (EPOLLERR | EPOLLHUP))) {
			if (measuring) {
				connect_errors++;
				log_conn(c, NULL, "refused");
			}
			goto over;
		}
		c->connected = 1;
		if (measuring)
			connects++;
		if (request_len && send(c->fd, request, request_len, MSG_NOSIGNAL) != (ssize_t)request_len) {
			if (measuring) {
				io_errors++;
				log_conn(c, NULL, "reset");
			}
			goto over;
		}
		if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev))
			die("epoll_ctl");
		return 0;
	}
	for (;;) {
		char scratch[RESPONSE_MAX];
		char *into = c->got < RESPONSE_MAX - 1 ? c->response + c->got : scratch;
		size_t room = c->got < RESPONSE_MAX - 1 ? RESPONSE_MAX - 1 - c->got : sizeof(scratch);
		ssize_t n = recv(c->fd, into, room, 0);

		if (n > 0) {
			if (!c->first_byte)
				c->first_byte = now();
			if (into != scratch)
				c->got += n;
			continue;
		}
		if (n == 0) {
			if (measuring)
				record(c);
			goto over;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		if (measuring) {
			io_errors++;
			log_conn(c, NULL, "reset");
		}
		goto over;
	}
over:
	close(c->fd);
	return 1;
}

static int by_value(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static uint32_t percentile(double p)
{
	size_t i;

	if (!latency_count)
		return 0;
	i = (size_t)(p / 100.0 * (latency_count - 1) + 0.5);
	return latencies[i];
}

int main(int argc, char **argv)
{
	struct epoll_event events[256];
	double warmup, duration, t_start, t_measure, t_end;
	int concurrency, i, s, w, first;

	if (argc < 7 || argc > 8) {
		fprintf(stderr, "usage: %s SERVER PORT SOURCES CONCURRENCY WARMUP DURATION [REQUEST]\n", argv[0]);
		return 2;
	}
	server.sin_family = AF_INET;
	server.sin_port = htons(atoi(argv[2]));
	if (inet_pton(AF_INET, argv[1], &server.sin_addr) != 1)
		return fprintf(stderr, "bad server address %s\n", argv[1]), 2;
	read_sources(argv[3]);
	concurrency = atoi(argv[4]);
	if (concurrency < 1 || concurrency > MAX_CONCURRENCY)
		return fprintf(stderr, "concurrency: 1..%d\n", MAX_CONCURRENCY), 2;
	warmup = atof(argv[5]);
	duration = atof(argv[6]);
	if (argc == 8)
		request = argv[7];
	request_len = strlen(request);
	if (getenv("LOADGEN_TIMEOUT_MS"))
		timeout_s = atof(getenv("LOADGEN_TIMEOUT_MS")) / 1000;
	if (getenv("LOADGEN_LOG")) {
		conn_log = fopen(getenv("LOADGEN_LOG"), "w");
		if (!conn_log)
			die(getenv("LOADGEN_LOG"));
	}

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	t_start = now();
	t_measure = t_start + warmup;
	measure_from = t_measure;
	t_end = t_measure + duration;
	for (i = 0; i < concurrency; i++)
		start(&conns[i]);
	for (;;) {
		double t = now();
		int n, measuring;

		if (t >= t_end)
			break;
		if (timeout_s > 0) {
			for (i = 0; i < concurrency; i++) {
				struct conn *c = &conns[i];

				if (t - c->started < timeout_s)
					continue;
				if (t >= t_measure) {
					timed_out++;
					log_conn(c, NULL, "timeout");
				}
				close(c->fd);
				start(c);
			}
		}
		n = epoll_wait(ep, events, 256,
			       timeout_s > 0 ? 20 : (int)((t_end - t) * 1000) + 1);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		measuring = now() >= t_measure;
		for (i = 0; i < n; i++) {
			struct conn *c = events[i].data.ptr;

			if (step(c, events[i].events, measuring))
				start(c);
		}
	}
	for (i = 0; i < concurrency; i++)
		close(conns[i].fd);
	if (conn_log && fclose(conn_log))
		die("LOADGEN_LOG");

	qsort(latencies, latency_count, sizeof(*latencies), by_value);
	printf("{\"duration_s\": %.3f, \"concurrency\": %d, \"sources\": %d, \"completed\": %lu, "
	       "\"connects\": %lu, \"connect_errors\": %lu, \"io_errors\": %lu, \"unidentified\": %lu, "
	       "\"timed_out\": %lu, "
	       "\"latency_us\": {\"p50\": %u, \"p90\": %u, \"p99\": %u, \"max\": %u}, \"worker_ids\": [",
	       duration, concurrency, source_count, completed, connects, connect_errors, io_errors,
	       unidentified, timed_out, percentile(50), percentile(90), percentile(99),
	       latency_count ? latencies[latency_count - 1] : 0);
	for (w = 0; w < worker_id_count; w++)
		printf("%s\"%s\"", w ? ", " : "", worker_ids[w]);
	/* per source address: the count of its connections each worker (by position) answered */
	printf("], \"per_source\": {");
	first = 1;
	for (s = 0; s < source_count; s++) {
		char addr[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &sources[s], addr, sizeof(addr));
		printf("%s\"%s\": [", first ? "" : ", ", addr);
		first = 0;
		for (w = 0; w < worker_id_count; w++)
			printf("%s%u", w ? ", " : "", answered[s][w]);
		printf("]");
	}
	printf("}}\n");
	return 0;
}
