/* SPDX-License-Identifier: MIT */
/*
 * worker.c - spur-native-worker, the child process of one native execution
 * context under `isolation: process` (see process.c for the parent).
 *
 *   spur-native-worker check HANDLER.so   load and check the descriptor;
 *                                         exit 0, or print why and exit 1
 *   spur-native-worker serve HANDLER.so   run one context: fd 3 is the
 *                                         socket to the router
 *
 * `serve` reads INIT, loads the handler, limits its own address space to
 * what it has mapped so far plus the function's `memory` (RLIMIT_AS) and
 * each file it writes to `tmp_size` (RLIMIT_FSIZE), runs init(), then one
 * handle() per EVENT until FINI or end of file, then fini(). The parent
 * kills it at a deadline; as a backstop (an orphan whose router died
 * while its handler loops) an interval timer ends it with SIGALRM a second
 * after its deadline. Single-threaded; it exists to be killed, so a crash
 * here costs one context and nothing else.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "native.h"

struct worker {
	int fd;
	const char *path;
	void *dl;
	struct spur_handler desc;
	void *state;
	bool state_set;
	char *init_msg;			/* kept: the env points into it */
	const char **env;
	struct native_answer answer;
};

/* The fixed fields, type and message of a reply: static, so that replying
 * needs no allocation when the handler has used up the memory limit. */
static char reply_buf[sizeof(struct native_reply) + NATIVE_MAX_TYPE + NATIVE_MAX_MESSAGE + 2];

/* Under AddressSanitizer (b_sanitize=address builds) a handler's crash
 * stays the signal it is, and malloc() returns NULL at the memory limit,
 * as in a normal build. Unused otherwise. */
SPUR_HANDLER_VISIBLE const char *__asan_default_options(void);
SPUR_HANDLER_VISIBLE const char *__asan_default_options(void)
{
	return "handle_segv=0:handle_abort=0:handle_sigbus=0:handle_sigfpe=0:"
	       "allocator_may_return_null=1:detect_leaks=0";
}

int64_t spur_native_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void send_log(struct native_answer *a, const char *line, size_t len)
{
	struct worker *w = a->log_ud;

	(void)spur_native_send(w->fd, NATIVE_MSG_LOG, line, len, NULL, 0, 0);
}

static int reply(struct worker *w, int rc)
{
	struct native_answer *a = &w->answer;
	struct native_reply r = {
		.rc = rc,
		.kind = a->kind,
		.oom = a->oom,
	};
	struct rusage ru;
	size_t off = sizeof(r);

	if (getrusage(RUSAGE_SELF, &ru) == 0)
		r.max_rss = (uint64_t)ru.ru_maxrss * 1024;
	if (a->kind == NATIVE_ERROR) {
		r.type_len = (uint32_t)strlen(a->type);
		r.message_len = (uint32_t)strlen(a->message);
		memcpy(reply_buf + off, a->type, r.type_len);
		off += r.type_len;
		memcpy(reply_buf + off, a->message, r.message_len);
		off += r.message_len;
	}
	memcpy(reply_buf, &r, sizeof(r));
	return spur_native_send(w->fd, NATIVE_MSG_REPLY, reply_buf, off,
				a->kind == NATIVE_RESULT ? a->result : NULL,
				a->kind == NATIVE_RESULT ? a->result_len : 0, 0);
}

/* Reply with an error of our own (not the handler's). */
static int reply_error(struct worker *w, int rc, const char *type, const char *msg)
{
	struct native_answer *a = &w->answer;

	spur_native_answer_reset(a);
	a->pub.error(&a->pub, type, msg);
	return reply(w, rc);
}

/* Arm (ms > 0) or disarm (0) the backstop timer. */
static void backstop(int64_t deadline_ms)
{
	struct itimerval it = {0};
	struct timespec now;
	int64_t left;

	if (deadline_ms > 0) {
		clock_gettime(CLOCK_REALTIME, &now);
		left = deadline_ms - ((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
		if (left < 0)
			left = 0;
		left += 1000 + left / 10;
		it.it_value.tv_sec = left / 1000;
		it.it_value.tv_usec = (left % 1000) * 1000;
	}
	setitimer(ITIMER_REAL, &it, NULL);
}

/* The event fields common to INIT and EVENT. */
static void read_event(struct native_rbuf *b, struct spur_handler_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->struct_size = sizeof(*ev);
	ev->request_id = spur_native_get_str(b);
	ev->function_name = spur_native_get_str(b);
	ev->function_version = spur_native_get_str(b);
	ev->invoked_arn = spur_native_get_str(b);
	ev->tmp_dir = spur_native_get_str(b);
	ev->attempt = spur_native_get_u32(b);
	ev->deadline_ms = (int64_t)spur_native_get_u64(b);
}

/* Bytes of address space mapped now (VmSize), or 0. */
static uint64_t mapped_bytes(void)
{
	unsigned long long pages = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (f == NULL)
		return 0;
	if (fscanf(f, "%llu", &pages) != 1)
		pages = 0;
	fclose(f);
	return (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void limit(uint64_t memory, uint64_t tmp_size)
{
	struct rlimit rl;

	if (memory > 0) {
		/* What the loaded code maps, plus slack for the reply path. */
		rl.rlim_cur = rl.rlim_max = mapped_bytes() + memory + (1u << 20);
		setrlimit(RLIMIT_AS, &rl);
	}
	if (tmp_size > 0) {
		signal(SIGXFSZ, SIG_IGN);	/* a write past the limit fails with EFBIG */
		rl.rlim_cur = rl.rlim_max = tmp_size;
		setrlimit(RLIMIT_FSIZE, &rl);
	}
}

/* INIT: load the handler, limit ourselves, run init(). 0 when the
 * context is ready; otherwise the reply is sent and we should exit. */
static int do_init(struct worker *w)
{
	struct spur_handler_event ev;
	struct native_rbuf b = {0};
	char why[1024];
	uint64_t memory, tmp_size;
	uint32_t type, n_env, i;
	size_t len;
	int rc;

	rc = spur_native_recv(w->fd, &type, &w->init_msg, &len, NATIVE_MAX_WIRE, 0);
	if (rc < 0 || type != NATIVE_MSG_INIT)
		return -EPROTO;
	b.p = w->init_msg;
	b.len = len;
	read_event(&b, &ev);
	memory = spur_native_get_u64(&b);
	tmp_size = spur_native_get_u64(&b);
	n_env = spur_native_get_u32(&b);
	if (b.err != 0 || n_env > len)
		return -EPROTO;
	w->env = calloc((size_t)n_env + 1, sizeof(*w->env));
	if (w->env == NULL)
		return reply_error(w, -ENOMEM, "Runtime.OutOfMemory", "out of memory"), -ENOMEM;
	for (i = 0; i < n_env; i++)
		w->env[i] = spur_native_get_str(&b);
	if (b.err != 0)
		return -EPROTO;
	ev.env = w->env;

	if (spur_native_open(w->path, &w->dl, &w->desc, why, sizeof(why)) < 0) {
		reply_error(w, -EINVAL, "Runtime.InitError", why);
		return -EINVAL;
	}
	limit(memory, tmp_size);
	spur_native_answer_reset(&w->answer);
	rc = 0;
	if (w->desc.init != NULL) {
		backstop(ev.deadline_ms);
		rc = w->desc.init(&w->state, &ev, &w->answer.pub);
		backstop(0);
	}
	if (rc < 0 || w->answer.kind == NATIVE_ERROR) {
		/* A failed INIT: fini only what init() set up. */
		w->state_set = w->state != NULL;
		reply(w, rc < 0 ? rc : -EINVAL);
		return -EINVAL;
	}
	w->state_set = true;
	return reply(w, rc) < 0 ? -EPIPE : 0;
}

static int do_event(struct worker *w, char *msg, size_t len)
{
	struct spur_handler_event ev;
	struct native_rbuf b = { .p = msg, .len = len };
	int rc;

	read_event(&b, &ev);
	if (b.err != 0)
		return -EPROTO;
	ev.payload = msg + b.off;	/* the tail; recv NUL-terminated it */
	ev.payload_len = len - b.off;
	ev.env = w->env;
	spur_native_answer_reset(&w->answer);
	backstop(ev.deadline_ms);
	rc = w->desc.handle(w->state, &ev, &w->answer.pub);
	backstop(0);
	return reply(w, rc);
}

static int serve(struct worker *w)
{
	uint32_t type;
	char *msg;
	size_t len;
	int r;

	spur_native_answer_init(&w->answer, send_log, w);
	r = do_init(w);
	while (r == 0) {
		r = spur_native_recv(w->fd, &type, &msg, &len, NATIVE_MAX_WIRE, 0);
		if (r == -ENOMEM) {
			/* Our own copy of the event does not fit in what the
			 * handler left: the parent ends this context. */
			reply_error(w, -ENOMEM, "Runtime.OutOfMemory", "out of memory");
			break;
		}
		if (r < 0)
			break;
		if (type == NATIVE_MSG_EVENT)
			r = do_event(w, msg, len);
		else
			r = type == NATIVE_MSG_FINI ? 1 : -EPROTO;
		free(msg);
	}
	if (w->state_set && w->desc.fini != NULL)
		w->desc.fini(w->state);
	if (r == 1) {	/* FINI: say we are done */
		spur_native_answer_reset(&w->answer);
		reply(w, 0);
	}
	return r < 0 && r != -EPIPE && r != -EINVAL ? 1 : 0;
}

static void close_others(void)
{
	long max = sysconf(_SC_OPEN_MAX);
	int fd;

	if (close_range(NATIVE_WORKER_FD + 1, ~0u, 0) == 0)
		return;
	for (fd = NATIVE_WORKER_FD + 1; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
		close(fd);
}

int main(int argc, char **argv)
{
	struct worker w = { .fd = NATIVE_WORKER_FD };
	char why[1024];

	if (argc != 3 || (strcmp(argv[1], "check") != 0 && strcmp(argv[1], "serve") != 0)) {
		fprintf(stderr, "usage: %s check|serve HANDLER.so\n"
			"(the native runtime's worker; spur starts it)\n", argv[0]);
		return 2;
	}
	w.path = argv[2];
	if (strcmp(argv[1], "check") == 0) {
		if (spur_native_open(w.path, &w.dl, &w.desc, why, sizeof(why)) < 0) {
			fputs(why, stdout);
			return 1;
		}
		return 0;
	}
	close_others();
	setvbuf(stdout, NULL, _IOLBF, 0);
	return serve(&w);
}
