/* SPDX-License-Identifier: MIT */
/*
 * listen.c - the http source's listeners and its header watchdog.
 *
 * Listeners: one libmicrohttpd daemon per `listen` address, in one of two
 * modes (`threads`). N > 0 (the default, auto: one per core): N epoll
 * event loops per daemon serve all connections; a Lua handler runs inline
 * until http.inline_budget, then the connection is suspended and a worker
 * finishes the run (http.c's spur_http_run; hence MHD_ALLOW_SUSPEND_RESUME),
 * and native handlers go to a worker at once. What still runs on a loop
 * for as long as it takes: a mid-body reject_now (up to 1 s) and the
 * events of a CloudEvents batch. 0: an internal poll() thread accepts and
 * each connection gets its own thread, where every handler runs inline
 * (a thread and a context switch per request). max_connections holds in
 * both (pool: counted per listener in accept_ok(), as MHD would
 * split it per thread and park the rest in the backlog). Every thread has a 1 MiB stack
 * (Lua handlers and JSON 2048 deep run on it); the request callbacks they
 * call are http.c's, the same in both modes.
 *
 * The header watchdog: MHD's connection timeout is an idle timeout, so a
 * client that sends one header byte a second keeps it alive for ever.
 * Each connection (struct http_conn, made when MHD starts it) is watched
 * from accept, and again after each response, until its headers are in;
 * past the deadline its socket is shut down, which makes MHD close it.
 * The body phase is bounded in http.c's access callback instead.
 *
 * Threads and cost: the thread serving a connection arms its deadline with one
 * atomic store and one atomic load (spur_http_conn_arm, several times a
 * request). One watchdog thread sleeps until the earliest armed deadline
 * (srv->wplanned), or until signalled when nothing is armed. An arm
 * earlier than wplanned takes srv->wlock and signals; the common case,
 * re-arming to a later deadline, takes no lock and wakes nobody. wlock
 * guards the connection list: taken once when a connection starts, once
 * when it closes, and by the watchdog while it scans (O(connections) per
 * wake-up, at most one wake-up per deadline).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"

#define HTTP_STACK_SIZE ((size_t)1 << 20)

/* --- the header watchdog --------------------------------------------------- */

/* Lost wake-ups: an arm stores its deadline, then loads wplanned; the
 * watchdog stores INT64_MAX into wplanned before it scans (all seq_cst).
 * So an arm the scan may miss sees INT64_MAX and signals, and the signal
 * waits on wlock until the watchdog sleeps; an arm that sees the old
 * plan had its deadline stored before the scan began, so the scan sees
 * it. A later arm that sees the new plan signals when it is earlier. */
static void wake_if_earlier(struct spur_http *srv, int64_t deadline)
{
	if (deadline && deadline < atomic_load(&srv->wplanned)) {
		pthread_mutex_lock(&srv->wlock);
		pthread_cond_signal(&srv->wcond);
		pthread_mutex_unlock(&srv->wlock);
	}
}

void spur_http_conn_arm(struct spur_http *srv, struct MHD_Connection *c,
			int64_t deadline)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct http_conn *hc = ci ? ci->socket_context : NULL;

	if (!hc)
		return;
	atomic_store(&hc->deadline_ns, deadline);
	wake_if_earlier(srv, deadline);
}

static void mhd_conn(void *cls, struct MHD_Connection *c, void **socket_context,
		     enum MHD_ConnectionNotificationCode toe)
{
	struct http_listener *l = cls;
	struct spur_http *srv = l->srv;
	struct http_conn *hc = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		int64_t deadline;

		hc = calloc(1, sizeof(*hc));
		if (!hc || !ci) {
			free(hc);
			return;
		}
		hc->fd = ci->connect_fd;
		atomic_fetch_add(&l->n_conns, 1);
		deadline = spur_now_ns() +
			(srv->opt.connection_timeout_ms + srv->opt.request_timeout_ms) * 1000000;
		atomic_init(&hc->deadline_ns, deadline);
		pthread_mutex_lock(&srv->wlock);
		hc->next = srv->conns;
		if (srv->conns)
			srv->conns->prev = hc;
		srv->conns = hc;
		if (deadline < atomic_load(&srv->wplanned))
			pthread_cond_signal(&srv->wcond);
		pthread_mutex_unlock(&srv->wlock);
		*socket_context = hc;
	} else if (hc) {	/* closed: MHD closes the fd after this returns */
		pthread_mutex_lock(&srv->wlock);
		if (hc->prev)
			hc->prev->next = hc->next;
		else
			srv->conns = hc->next;
		if (hc->next)
			hc->next->prev = hc->prev;
		pthread_mutex_unlock(&srv->wlock);
		atomic_fetch_sub(&l->n_conns, 1);
		free(hc);
		*socket_context = NULL;
	}
}

/* Shut down the connections past their deadline; returns the earliest
 * deadline still armed (INT64_MAX: none). Under wlock. */
static int64_t scan(struct spur_http *srv)
{
	int64_t now = spur_now_ns(), next = INT64_MAX;
	unsigned closed = 0;

	for (struct http_conn *hc = srv->conns; hc; hc = hc->next) {
		int64_t d = atomic_load(&hc->deadline_ns);

		if (!d)
			continue;
		if (now < d) {
			if (d < next)
				next = d;
			continue;
		}
		/* the connection's thread may be disarming right now: its
		 * store wins, and its headers count as in time */
		if (atomic_compare_exchange_strong(&hc->deadline_ns, &d, 0)) {
			shutdown(hc->fd, SHUT_RDWR);
			closed++;
		}
	}
	if (closed)
		spur_log(srv->host, SPUR_LOG_INFO,
			 "closed %u connection(s): request headers not received within %" PRId64 " ms",
			 closed, srv->opt.request_timeout_ms);
	return next;
}

static void *watchdog(void *arg)
{
	struct spur_http *srv = arg;

	pthread_mutex_lock(&srv->wlock);
	while (!srv->wstop) {
		int64_t next;

		atomic_store(&srv->wplanned, INT64_MAX);	/* arms now signal */
		next = scan(srv);
		atomic_store(&srv->wplanned, next);
		if (next == INT64_MAX) {
			pthread_cond_wait(&srv->wcond, &srv->wlock);
		} else {
			/* wcond runs on CLOCK_MONOTONIC; spur_now_ns() may be
			 * another clock (tests), so sleep for the difference */
			int64_t left = next - spur_now_ns();
			struct timespec ts;

			if (left <= 0)
				continue;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += (time_t)(left / 1000000000);
			ts.tv_nsec += (long)(left % 1000000000);
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&srv->wcond, &srv->wlock, &ts);
		}
	}
	pthread_mutex_unlock(&srv->wlock);
	return NULL;
}

static void watchdog_join(struct spur_http *srv)
{
	if (!srv->wstarted)
		return;
	pthread_mutex_lock(&srv->wlock);
	srv->wstop = true;
	pthread_cond_signal(&srv->wcond);
	pthread_mutex_unlock(&srv->wlock);
	pthread_join(srv->wthread, NULL);
	srv->wstarted = false;
}

void spur_http_listen_init(struct spur_http *srv)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&srv->wlock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&srv->wcond, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&srv->wplanned, INT64_MAX);
}

void spur_http_listen_fini(struct spur_http *srv)
{
	pthread_cond_destroy(&srv->wcond);
	pthread_mutex_destroy(&srv->wlock);
}

/* --- listeners ----------------------------------------------------------- */


/* The pool mode's connection limit, at accept: MHD would split
 * max_connections among its threads and leave the connections over a
 * thread's share in the backlog; here the total counts, and those over it
 * are closed at once, as in thread-per-connection mode (a few more may
 * pass while pool threads accept at the same moment: at most `threads`). */
static enum MHD_Result accept_ok(void *cls, const struct sockaddr *addr, socklen_t len)
{
	struct http_listener *l = cls;

	(void)addr;
	(void)len;
	return atomic_load(&l->n_conns) < l->srv->opt.max_connections ? MHD_YES : MHD_NO;
}

/* "host:port", "[v6]:port", ":port" → an address. `any` when no host. */
static int parse_listen(const char *spec, struct sockaddr_storage *ss,
			socklen_t *sslen, bool *v6)
{
	char host[256];
	const char *port, *colon;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	size_t hl;
	int err = -EINVAL;

	if (spec[0] == '[') {
		const char *rb = strchr(spec, ']');
		if (!rb || rb[1] != ':')
			goto fail;
		hl = (size_t)(rb - spec - 1);
		if (hl >= sizeof(host))
			goto fail;
		memcpy(host, spec + 1, hl);
		port = rb + 2;
	} else {
		colon = strrchr(spec, ':');
		if (!colon)
			goto fail;
		hl = (size_t)(colon - spec);
		if (hl >= sizeof(host))
			goto fail;
		memcpy(host, spec, hl);
		port = colon + 1;
	}
	host[hl] = '\0';
	if (!*port || strspn(port, "0123456789") != strlen(port) || atoi(port) > 65535)
		goto fail;
	if (hl == 0) {	/* all addresses: IPv6 dual stack when possible */
		int s = socket(AF_INET6, SOCK_STREAM, 0);
		if (s >= 0)
			close(s);
		hints.ai_family = s >= 0 ? AF_INET6 : AF_INET;
	}
	if (getaddrinfo(hl ? host : NULL, port, &hints, &ai) != 0 || !ai)
		goto fail;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*sslen = ai->ai_addrlen;
	*v6 = ai->ai_family == AF_INET6;
	err = 0;
fail:
	if (ai)
		freeaddrinfo(ai);
	return err;
}

static struct MHD_Daemon *start_daemon(struct spur_http *srv, struct http_listener *l,
				       const char *spec)
{
	const struct http_options *o = &srv->opt;
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	unsigned flags = MHD_USE_ERROR_LOG | MHD_USE_ITC;
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *di;
	/* the pool: accept_ok() enforces the total, MHD's per-thread share
	 * (mhd_limit / threads) must not be reached before it */
	int64_t mhd_limit = o->max_connections * (o->threads > 1 ? o->threads : 1);
	bool v6 = false;
	uint16_t port;

	if (parse_listen(spec, &ss, &sslen, &v6) < 0) {
		spur_log(srv->host, SPUR_LOG_ERROR,
			 "listen %s: expected host:port, [v6]:port or :port", spec);
		return NULL;
	}
	if (o->threads > 0)	/* event loops (epoll), whose runs may move */
		flags |= MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME;
	else
		flags |= MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			MHD_USE_POLL;
	if (v6)
		flags |= MHD_USE_DUAL_STACK;
	port = ntohs(v6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
		     ((struct sockaddr_in *)&ss)->sin_port);
	d = MHD_start_daemon(flags, port, o->threads > 0 ? accept_ok : NULL, l,
		spur_http_on_access, srv,
		MHD_OPTION_EXTERNAL_LOGGER, spur_http_on_log, srv,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_URI_LOG_CALLBACK, spur_http_on_uri, srv,
		MHD_OPTION_NOTIFY_COMPLETED, spur_http_on_completed, srv,
		MHD_OPTION_NOTIFY_CONNECTION, mhd_conn, l,
		MHD_OPTION_CONNECTION_TIMEOUT,
			(unsigned)((o->connection_timeout_ms + 999) / 1000),
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)mhd_limit,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)o->max_connections_per_ip,
		MHD_OPTION_THREAD_STACK_SIZE, HTTP_STACK_SIZE,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)o->threads,	/* 0: none */
		MHD_OPTION_END);
	if (!d) {
		spur_log(srv->host, SPUR_LOG_ERROR, "listen %s: cannot start: %s",
			 spec, strerror(errno));
		return NULL;
	}
	di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	if (o->threads > 0)
		spur_log(srv->host, SPUR_LOG_INFO, "listening on %s (port %u, %" PRId64
			 " event loop%s)", spec, di ? (unsigned)di->port : (unsigned)port,
			 o->threads, o->threads == 1 ? "" : "s");
	else
		spur_log(srv->host, SPUR_LOG_INFO, "listening on %s (port %u, a thread per "
			 "connection)", spec, di ? (unsigned)di->port : (unsigned)port);
	return d;
}

static void raise_nofile(struct spur_http *srv)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		spur_log(srv->host, SPUR_LOG_WARN, "cannot raise RLIMIT_NOFILE: %s",
			 strerror(errno));
}


int spur_http_listen_check(struct spur_http *srv)
{
	if (srv->opt.listen.n == 0) {
		spur_log(srv->host, SPUR_LOG_ERROR, "http.listen: at least one address needed");
		return -EINVAL;
	}
	for (size_t i = 0; i < srv->opt.listen.n; i++) {
		struct sockaddr_storage ss;
		socklen_t l;
		bool v6;

		if (parse_listen(srv->opt.listen.v[i], &ss, &l, &v6) < 0) {
			spur_log(srv->host, SPUR_LOG_ERROR,
				 "http.listen: bad address '%s' (host:port, [v6]:port or :port)",
				 srv->opt.listen.v[i]);
			return -EINVAL;
		}
	}
	/* MHD gives each pool thread max_connections / threads */
	if (srv->opt.threads > srv->opt.max_connections) {
		spur_log(srv->host, SPUR_LOG_ERROR,
			 "http.threads (%" PRId64 ") may not exceed http.max_connections (%" PRId64 ")",
			 srv->opt.threads, srv->opt.max_connections);
		return -EINVAL;
	}
	return 0;
}

int spur_http_listen_start(struct spur_http *srv)
{
	int err = -ENOMEM;

	raise_nofile(srv);
	srv->wstop = false;
	atomic_store(&srv->wplanned, INT64_MAX);
	if (pthread_create(&srv->wthread, NULL, watchdog, srv) != 0) {
		err = -EAGAIN;
		goto fail;
	}
	srv->wstarted = true;
	srv->daemons = calloc(srv->opt.listen.n, sizeof(*srv->daemons));
	srv->listeners = calloc(srv->opt.listen.n, sizeof(*srv->listeners));
	if (!srv->daemons || !srv->listeners)
		goto fail;
	for (size_t i = 0; i < srv->opt.listen.n; i++) {
		srv->listeners[i].srv = srv;
		atomic_init(&srv->listeners[i].n_conns, 0);
		srv->daemons[i] = start_daemon(srv, &srv->listeners[i], srv->opt.listen.v[i]);
		if (!srv->daemons[i]) {
			err = -EADDRNOTAVAIL;
			goto fail;
		}
		srv->n_daemons = i + 1;
	}
	return 0;
fail:
	spur_http_listen_stop(srv);
	return err;
}

void spur_http_listen_quiesce(struct spur_http *srv)
{
	for (size_t i = 0; i < srv->n_daemons; i++) {
		MHD_socket s = MHD_quiesce_daemon(srv->daemons[i]);
		if (s != MHD_INVALID_SOCKET)
			close(s);
	}
}

void spur_http_listen_stop(struct spur_http *srv)
{
	for (size_t i = 0; i < srv->n_daemons; i++)
		MHD_stop_daemon(srv->daemons[i]);	/* joins its threads */
	free(srv->daemons);
	srv->daemons = NULL;
	free(srv->listeners);
	srv->listeners = NULL;
	srv->n_daemons = 0;
	watchdog_join(srv);
}
