/* SPDX-License-Identifier: MIT */
/*
 * bench_async.c - a paced HTTP/1.1 load generator for the end-to-end async
 * latency of scripts/bench (issue 8, scenario 5): it POSTs Event invokes at
 * a fixed rate and writes, for every 202, the event id and the wall-clock
 * time (CLOCK_REALTIME, the clock of spur.now()) at which the 202 arrived.
 * scripts/bench joins these lines on the id with the records the handler
 * wrote, which carry spur.now() taken at handler start.
 *
 *   bench_async -p PORT -u PATH -r RATE -d SECONDS [-c CONNS] [-b BODYFILE]
 *               [-H 'Name: value']... [-o OUT.tsv]
 *
 * Open loop over a bounded set of keep-alive connections (default 64), one
 * request in flight on each: request k is due at t0 + k/RATE and leaves on
 * the first idle connection; when none is idle it waits (counted in "late").
 * The loop sleeps in epoll_pwait2 until the next due time, so the generator
 * costs little CPU next to the server it measures on a shared 2-core box.
 * OUT.tsv lines: "<event id>\t<epoch seconds of the 202>\t<µs send→202>".
 * Prints one JSON object (counts, achieved rate, send→202 percentiles).
 * Single-threaded; 127.0.0.1 only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1024
#define BUF_SIZE 8192
#define DRAIN_NS (5LL * 1000000000)

struct conn {
	int fd;
	bool busy;
	int64_t sent_ns;		/* monotonic */
	size_t len;
	char buf[BUF_SIZE];
};

struct sample {
	char id[40];
	double epoch;
	double us;
};

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double epoch_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dial(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("connect");
		exit(1);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Value of header `name` inside the header block [h, end), copied to out. */
static bool header(const char *h, const char *end, const char *name, char *out, size_t cap)
{
	size_t n = strlen(name);
	for (const char *p = h; p && p < end; p = memchr(p, '\n', (size_t)(end - p)), p = p ? p + 1 : p) {
		if ((size_t)(end - p) > n + 1 && strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1, *e = memchr(v, '\r', (size_t)(end - v));
			while (v < e && *v == ' ')
				v++;
			size_t len = e ? (size_t)(e - v) : 0;
			if (len >= cap)
				len = cap - 1;
			memcpy(out, v, len);
			out[len] = '\0';
			return true;
		}
	}
	return false;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_async -p PORT -u PATH -r RATE -d SECONDS [-c CONNS] "
			"[-b BODYFILE] [-H 'Name: value']... [-o OUT.tsv]\n");
	exit(1);
}

int main(int argc, char **argv)
{
	int port = 0, nconns = 64, opt;
	double rate = 0, seconds = 0;
	const char *path = NULL, *bodyfile = NULL, *out = NULL;
	char headers[2048] = "", body[65536] = "{}";
	size_t body_len = 2;

	while ((opt = getopt(argc, argv, "p:u:r:d:c:b:H:o:")) != -1) {
		switch (opt) {
		case 'p': port = atoi(optarg); break;
		case 'u': path = optarg; break;
		case 'r': rate = atof(optarg); break;
		case 'd': seconds = atof(optarg); break;
		case 'c': nconns = atoi(optarg); break;
		case 'b': bodyfile = optarg; break;
		case 'o': out = optarg; break;
		case 'H':
			if (strlen(headers) + strlen(optarg) + 3 >= sizeof(headers))
				usage();
			strcat(headers, optarg);
			strcat(headers, "\r\n");
			break;
		default: usage();
		}
	}
	if (!port || !path || rate <= 0 || seconds <= 0 || nconns < 1 || nconns > MAX_CONNS)
		usage();
	if (bodyfile) {
		FILE *f = fopen(bodyfile, "rb");
		if (!f)
			usage();
		body_len = fread(body, 1, sizeof(body), f);
		fclose(f);
		while (body_len && (body[body_len - 1] == '\n' || body[body_len - 1] == '\r'))
			body_len--;
	}
	char *req = NULL;
	int req_len = asprintf(&req, "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
				     "Content-Type: application/json\r\n%sContent-Length: %zu\r\n\r\n%.*s",
			       path, port, headers, body_len, (int)body_len, body);
	if (req_len < 0)
		return 1;

	struct conn *c = calloc((size_t)nconns, sizeof(*c));
	int ep = epoll_create1(EPOLL_CLOEXEC);
	for (int i = 0; i < nconns; i++) {
		c[i].fd = dial(port);
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
		epoll_ctl(ep, EPOLL_CTL_ADD, c[i].fd, &ev);
	}
	size_t cap = (size_t)(rate * seconds) + 16, n_ok = 0;
	struct sample *s = calloc(cap, sizeof(*s));
	uint64_t sent = 0, other = 0, late = 0, in_flight = 0;
	int64_t interval = (int64_t)(1e9 / rate), t0 = mono_ns(), next = t0;
	int64_t t_end = t0 + (int64_t)(seconds * 1e9), last_done = t0;
	int idle = nconns;
	bool waiting = false;

	for (;;) {
		int64_t now = mono_ns();
		/* send what is due; with no idle connection, wait for one */
		while (now < t_end && next <= now && idle > 0) {
			int i = 0;
			while (c[i].busy)
				i++;
			if (write(c[i].fd, req, (size_t)req_len) != req_len) {
				perror("write");
				return 1;
			}
			c[i].busy = true;
			c[i].sent_ns = now;
			idle--;
			sent++;
			in_flight++;
			next += interval;
			waiting = false;
		}
		if (now < t_end && next <= now && idle == 0 && !waiting) {
			late++;
			waiting = true;
		}
		if (now >= t_end && (in_flight == 0 || now - t_end > DRAIN_NS))
			break;
		struct epoll_event evs[64];
		struct timespec to = { 0, 0 }, *top = NULL;
		if (now < t_end && idle > 0) {
			int64_t d = next > now ? next - now : 0;
			to.tv_sec = d / 1000000000;
			to.tv_nsec = d % 1000000000;
			top = &to;
		} else if (now >= t_end) {
			to.tv_nsec = 100000000;
			top = &to;
		}
		int n = epoll_pwait2(ep, evs, 64, top, NULL);
		if (n < 0 && errno != EINTR) {
			perror("epoll_pwait2");
			return 1;
		}
		for (int k = 0; k < n; k++) {
			struct conn *x = &c[evs[k].data.u32];
			ssize_t r = read(x->fd, x->buf + x->len, sizeof(x->buf) - 1 - x->len);
			if (r <= 0) {
				fprintf(stderr, "connection closed by the server\n");
				return 1;
			}
			x->len += (size_t)r;
			x->buf[x->len] = '\0';
			char *hend = strstr(x->buf, "\r\n\r\n");
			if (!hend)
				continue;
			char clen[32] = "0", id[40] = "";
			header(x->buf, hend + 2, "Content-Length", clen, sizeof(clen));
			size_t total = (size_t)(hend + 4 - x->buf) + (size_t)atol(clen);
			if (x->len < total)
				continue;
			double at = epoch_s();
			int64_t done = mono_ns();
			int status = atoi(x->buf + 9);	/* "HTTP/1.1 202" */
			if (status == 202 && header(x->buf, hend + 2, "x-amzn-RequestId", id, sizeof(id)) &&
			    n_ok < cap) {
				memcpy(s[n_ok].id, id, sizeof(id));
				s[n_ok].epoch = at;
				s[n_ok].us = (double)(done - x->sent_ns) / 1e3;
				n_ok++;
			} else {
				other++;
			}
			memmove(x->buf, x->buf + total, x->len - total);
			x->len -= total;
			x->busy = false;
			idle++;
			in_flight--;
			last_done = done;
		}
	}
	double elapsed = (double)(last_done - t0) / 1e9;
	if (out) {
		FILE *f = fopen(out, "w");
		for (size_t i = 0; f && i < n_ok; i++)
			fprintf(f, "%s\t%.6f\t%.1f\n", s[i].id, s[i].epoch, s[i].us);
		if (!f || fclose(f) != 0) {
			perror(out);
			return 1;
		}
	}
	double *us = calloc(n_ok + 1, sizeof(*us));
	for (size_t i = 0; i < n_ok; i++)
		us[i] = s[i].us;
	qsort(us, n_ok, sizeof(*us), cmp_double);
#define PCT(p) (n_ok ? us[(size_t)((double)(n_ok - 1) * (p))] / 1e3 : 0)
	printf("{\"target_rate\": %.0f, \"sent\": %llu, \"accepted\": %zu, \"other\": %llu, "
	       "\"unanswered\": %llu, \"late\": %llu, \"rate\": %.0f, "
	       "\"resp_ms_p50\": %.3f, \"resp_ms_p99\": %.3f}\n",
	       rate, (unsigned long long)sent, n_ok, (unsigned long long)other,
	       (unsigned long long)in_flight, (unsigned long long)late,
	       elapsed > 0 ? (double)n_ok / elapsed : 0, PCT(0.50), PCT(0.99));
	for (int i = 0; i < nconns; i++)
		close(c[i].fd);
	close(ep);
	free(c);
	free(s);
	free(us);
	free(req);
	return in_flight == 0 && other == 0 ? 0 : 2;
}
