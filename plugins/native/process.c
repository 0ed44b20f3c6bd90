/* SPDX-License-Identifier: MIT */
/*
 * process.c - `isolation: process` for native handlers: each execution
 * context is one spur-native-worker child (worker.c), started with
 * posix_spawn() (safe in a multithreaded router: the child execs at once,
 * nothing runs between fork and exec) and kept warm across invocations.
 *
 * The parent speaks the protocol of native.h over a socketpair and waits
 * for every answer with poll() bounded by the run's deadline. A worker
 * that misses it is killed with SIGKILL (its whole process group, so what
 * the handler forked goes too) and the run is SPUR_RUN_TIMEOUT; one that
 * dies (segfault, abort(), exit()) is SPUR_RUN_CRASH with Lambda's
 * "Runtime.ExitError" naming the signal or exit status. Either way the
 * worker is reaped before returning and the host replaces the context.
 * Called from any worker thread, one run at a time per context; a warm
 * invocation costs two small messages and the copies of payload and
 * result (tens of microseconds).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "process.h"

#define FINI_GRACE_NS (2000 * 1000000ll)

struct native_proc {
	pid_t pid;
	int fd;				/* our end of the socketpair */
	uint64_t memory;
	char *msg;			/* the last received message */
};

/* Go's names, which Lambda's messages use ("signal: segmentation fault"). */
static const char *signal_name(int sig, char *buf, size_t len)
{
	switch (sig) {
	case SIGSEGV: return "segmentation fault";
	case SIGABRT: return "aborted";
	case SIGKILL: return "killed";
	case SIGBUS: return "bus error";
	case SIGFPE: return "floating point exception";
	case SIGILL: return "illegal instruction";
	case SIGTERM: return "terminated";
	case SIGINT: return "interrupt";
	case SIGALRM: return "alarm clock";
	case SIGPIPE: return "broken pipe";
	case SIGXCPU: return "CPU time limit exceeded";
	case SIGXFSZ: return "file size limit exceeded";
	case SIGSYS: return "bad system call";
	case SIGTRAP: return "trace/breakpoint trap";
	default:
		snprintf(buf, len, "signal %d", sig);
		return buf;
	}
}

/* "signal: segmentation fault", "exit status 3". */
static void describe_status(int status, char *buf, size_t len)
{
	char sig[32];

	if (WIFSIGNALED(status))
		snprintf(buf, len, "signal: %s%s", signal_name(WTERMSIG(status), sig, sizeof(sig)),
			 WCOREDUMP(status) ? " (core dumped)" : "");
	else if (WIFEXITED(status))
		snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	else
		snprintf(buf, len, "unknown status %d", status);
}

/* Kill the worker's process group and reap it. Status -1 when unknown. */
static int reap(struct native_proc *p)
{
	int status = -1;

	if (p->pid > 0) {
		if (kill(-p->pid, SIGKILL) < 0)
			kill(p->pid, SIGKILL);
		while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
			;
		p->pid = 0;
	}
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	return status;
}

/* posix_spawn the worker with `mode`; its fd 3 (serve) or stdout (check)
 * is the given descriptor. 0 and *pid, or -errno. */
static int spawn(const struct native_spawn *s, const char *mode, int fd, bool as_stdout,
		 pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	char *argv[] = { (char *)s->worker, (char *)mode, (char *)s->path, NULL };
	int r, moved = -1;

	/* dup2(fd, fd) would keep O_CLOEXEC: move it out of the way first. */
	if (!as_stdout && fd == NATIVE_WORKER_FD) {
		moved = fcntl(fd, F_DUPFD_CLOEXEC, NATIVE_WORKER_FD + 1);
		if (moved < 0)
			return -errno;
		fd = moved;
	}
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (as_stdout) {
		posix_spawn_file_actions_adddup2(&fa, fd, 1);
	} else {
		posix_spawn_file_actions_adddup2(&fa, 2, 1);	/* handler output → our stderr */
		posix_spawn_file_actions_adddup2(&fa, fd, NATIVE_WORKER_FD);
	}
	/* A clean signal state (the router blocks some), and a process group
	 * of its own: a ^C meant for the router does not reach it, and a kill
	 * of the group reaches what the handler forked. */
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
				 POSIX_SPAWN_SETPGROUP);
	r = -posix_spawn(pid, s->worker, &fa, &attr, argv, s->envp);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	if (moved >= 0)
		close(moved);
	return r;
}

int spur_native_proc_check(const struct native_spawn *s, int64_t timeout_ms,
			   char *why, size_t len)
{
	struct native_proc p = { .fd = -1 };
	int64_t deadline = spur_native_now_ns() + timeout_ms * 1000000;
	char out[1024], st[64];
	size_t n = 0;
	int pipefd[2], r, status;

	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		snprintf(why, len, "%s: cannot check: %s", s->path, strerror(errno));
		return -EINVAL;
	}
	r = spawn(s, "check", pipefd[1], true, &p.pid);
	close(pipefd[1]);
	p.fd = pipefd[0];
	if (r < 0) {
		snprintf(why, len, "%s: cannot start %s: %s", s->path, s->worker, strerror(-r));
		reap(&p);
		return -EINVAL;
	}
	fcntl(p.fd, F_SETFL, O_NONBLOCK);
	while (n < sizeof(out) - 1) {
		struct pollfd pfd = { .fd = p.fd, .events = POLLIN };
		int64_t left = deadline - spur_native_now_ns();
		ssize_t k;

		if (left <= 0) {
			reap(&p);
			snprintf(why, len, "%s: loading the handler took longer than %lld ms",
				 s->path, (long long)timeout_ms);
			return -EINVAL;
		}
		r = poll(&pfd, 1, left / 1000000 >= INT_MAX ? INT_MAX : (int)(left / 1000000 + 1));
		if (r <= 0) {
			if (r < 0 && errno != EINTR)
				break;
			continue;
		}
		k = read(p.fd, out + n, sizeof(out) - 1 - n);
		if (k > 0)
			n += (size_t)k;
		else if (k == 0 || (errno != EINTR && errno != EAGAIN))
			break;	/* end of file: it has written all it will */
	}
	out[n] = '\0';
	/* Wait for its exit, bounded by the deadline and then a kill. */
	close(p.fd);
	p.fd = -1;
	while ((r = waitpid(p.pid, &status, WNOHANG)) == 0 && spur_native_now_ns() < deadline)
		usleep(1000);
	if (r == 0)
		status = reap(&p);
	p.pid = 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 1 && n > 0) {
		snprintf(why, len, "%s", out);
	} else {
		describe_status(status, st, sizeof(st));
		snprintf(why, len, "%s: loading the handler failed: %s%s%s", s->path, st,
			 n > 0 ? ": " : "", out);
	}
	return -EINVAL;
}

/* The event's fields, as INIT and EVENT carry them. */
static void put_event(struct native_wbuf *b, const struct spur_handler_event *ev)
{
	spur_native_put_str(b, ev->request_id);
	spur_native_put_str(b, ev->function_name);
	spur_native_put_str(b, ev->function_version);
	spur_native_put_str(b, ev->invoked_arn);
	spur_native_put_str(b, ev->tmp_dir);
	spur_native_put_u32(b, ev->attempt);
	spur_native_put_u64(b, (uint64_t)ev->deadline_ms);
}

/* The worker is gone: reap it and say how it died. */
static enum spur_run died(struct native_proc *p, struct spur_invocation *inv,
			  const char *why)
{
	char st[96], msg[300];
	int status = reap(p);

	if (why != NULL)
		snprintf(st, sizeof(st), "%s", why);
	else if (status == -1)
		snprintf(st, sizeof(st), "the worker ended without a reply");
	else
		describe_status(status, st, sizeof(st));
	snprintf(msg, sizeof(msg), "RequestId: %s Error: Runtime exited with error: %s",
		 spur_invocation_request_id(inv), st);
	spur_invocation_set_error(inv, "Runtime.ExitError", msg, NULL);
	return SPUR_RUN_CRASH;
}

/* Send one message and read LOG lines until the REPLY; fill `a`. */
static enum spur_run exchange(struct native_proc *p, uint32_t type,
			      const struct native_wbuf *fields, const char *tail,
			      size_t tlen, struct spur_invocation *inv,
			      struct native_answer *a, int *rc)
{
	int64_t deadline = spur_invocation_deadline_ns(inv);
	struct native_reply rep;
	struct native_rbuf b;
	uint32_t mtype;
	size_t len;
	int r;

	spur_native_answer_reset(a);
	*rc = 0;
	if (fields->err != 0) {
		spur_invocation_set_error(inv, "Runtime.OutOfMemory", "out of memory", NULL);
		return SPUR_RUN_OOM;
	}
	r = spur_native_send(p->fd, type, fields->p, fields->len, tail, tlen, deadline);
	if (r == -ETIMEDOUT)
		goto timeout;
	if (r < 0)
		return died(p, inv, r == -EPIPE ? NULL : strerror(-r));
	for (;;) {
		free(p->msg);
		r = spur_native_recv(p->fd, &mtype, &p->msg, &len, NATIVE_MAX_WIRE, deadline);
		if (r == -ETIMEDOUT)
			goto timeout;
		if (r == -EPROTO)
			return died(p, inv, "the worker sent an oversized message");
		if (r < 0)
			return died(p, inv, r == -EPIPE ? NULL : strerror(-r));
		if (mtype == NATIVE_MSG_LOG) {
			spur_invocation_log(inv, p->msg, len);
			continue;
		}
		if (mtype != NATIVE_MSG_REPLY || len < sizeof(rep))
			return died(p, inv, "the worker sent a malformed message");
		break;
	}
	memcpy(&rep, p->msg, sizeof(rep));
	b = (struct native_rbuf){ .p = p->msg, .len = len, .off = sizeof(rep) };
	if (rep.kind > NATIVE_ERROR || rep.type_len > NATIVE_MAX_TYPE ||
	    rep.message_len > NATIVE_MAX_MESSAGE ||
	    (size_t)rep.type_len + rep.message_len > len - b.off)
		return died(p, inv, "the worker sent a malformed reply");
	spur_invocation_set_memory_used(inv, rep.max_rss);
	*rc = rep.rc;
	a->oom = rep.oom != 0;
	a->kind = rep.kind;
	if (rep.kind == NATIVE_ERROR) {
		a->type = strndup(p->msg + b.off, rep.type_len);
		a->message = strndup(p->msg + b.off + rep.type_len, rep.message_len);
		if (a->type == NULL || a->message == NULL) {
			spur_native_answer_reset(a);
			a->oom = true;
		}
	} else if (rep.kind == NATIVE_RESULT) {
		/* Move the result to the front of the buffer and hand it over:
		 * no copy of a large response. recv NUL-terminated it. */
		size_t off = b.off + rep.type_len + rep.message_len;

		a->result_len = len - off;
		memmove(p->msg, p->msg + off, a->result_len + 1);
		a->result = p->msg;
		p->msg = NULL;
	}
	free(p->msg);
	p->msg = NULL;
	return SPUR_RUN_OK;
timeout:
	reap(p);
	return SPUR_RUN_TIMEOUT;
}

enum spur_run spur_native_proc_new(const struct native_spawn *s,
				   const struct spur_handler_event *ev,
				   struct spur_invocation *init, struct native_answer *a,
				   int *rc, struct native_proc **out)
{
	struct native_proc *p = calloc(1, sizeof(*p));
	struct native_wbuf b = {0};
	enum spur_run run = SPUR_RUN_CRASH;
	char msg[600];
	size_t n = 0;
	int sv[2], r;

	*out = NULL;
	if (p == NULL) {
		spur_invocation_set_error(init, "Runtime.OutOfMemory", "out of memory", NULL);
		return SPUR_RUN_OOM;
	}
	p->fd = -1;
	p->memory = s->memory;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(msg, sizeof(msg), "cannot make a socket pair: %s", strerror(errno));
		goto fail;
	}
	p->fd = sv[0];
	r = spawn(s, "serve", sv[1], false, &p->pid);
	close(sv[1]);
	if (r < 0) {
		snprintf(msg, sizeof(msg), "cannot start %s: %s", s->worker, strerror(-r));
		goto fail;
	}
	put_event(&b, ev);
	spur_native_put_u64(&b, s->memory);
	spur_native_put_u64(&b, s->tmp_size);
	while (s->env != NULL && s->env[n] != NULL)
		n++;
	spur_native_put_u32(&b, (uint32_t)n);
	for (n = 0; s->env != NULL && s->env[n] != NULL; n++)
		spur_native_put_str(&b, s->env[n]);
	run = exchange(p, NATIVE_MSG_INIT, &b, NULL, 0, init, a, rc);
	free(b.p);
	if (run != SPUR_RUN_OK) {
		spur_native_proc_free(p);
		return run;
	}
	*out = p;
	return SPUR_RUN_OK;
fail:
	spur_invocation_set_error(init, "Runtime.ExitError", msg, NULL);
	spur_native_proc_free(p);
	return run;
}

enum spur_run spur_native_proc_run(struct native_proc *p, const struct spur_handler_event *ev,
				   struct spur_invocation *inv, struct native_answer *a,
				   int *rc)
{
	struct native_wbuf b = {0};
	enum spur_run run;

	if (p->pid <= 0)
		return died(p, inv, "the worker is gone");
	put_event(&b, ev);
	run = exchange(p, NATIVE_MSG_EVENT, &b, ev->payload, ev->payload_len, inv, a, rc);
	free(b.p);
	return run;
}

void spur_native_proc_free(struct native_proc *p)
{
	int64_t deadline = spur_native_now_ns() + FINI_GRACE_NS;
	uint32_t type;
	size_t len;
	char *msg;

	if (p == NULL)
		return;
	if (p->pid > 0 && p->fd >= 0 &&
	    spur_native_send(p->fd, NATIVE_MSG_FINI, NULL, 0, NULL, 0, deadline) == 0) {
		/* Until its REPLY (fini() has run) or end of file; its log
		 * lines have no invocation to go to. */
		while (spur_native_recv(p->fd, &type, &msg, &len, NATIVE_MAX_WIRE, deadline) == 0) {
			free(msg);
			if (type == NATIVE_MSG_REPLY)
				break;
		}
	}
	reap(p);
	free(p->msg);
	free(p);
}
