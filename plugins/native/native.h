/* SPDX-License-Identifier: MIT */
/*
 * native.h - what the `native` runtime plugin (native.c, process.c) and its
 * worker executable (worker.c) share: the handler descriptor check, the
 * answer a handler writes through struct spur_handler_out, and the wire
 * protocol between the plugin and a worker (wire.c).
 *
 * Wire protocol, over a SOCK_STREAM socketpair, one run at a time:
 *   message   = u32 type, u32 length, then `length` bytes (host byte order:
 *               both ends are on one machine)
 *   host   -> worker  INIT (fields: the event's strings, attempt, deadline,
 *                     memory, tmp_size, env), EVENT (same strings, attempt,
 *                     deadline; the payload is the message's tail), FINI
 *   worker -> host    any number of LOG (the line), then one REPLY
 *                     (struct native_reply, the error type, the error
 *                     message, then the result as the tail)
 * Strings are u32 length + bytes + NUL. Every length is checked on read:
 * the host treats a malformed message from a worker like a crash.
 */
#ifndef SPUR_NATIVE_H
#define SPUR_NATIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spur/handler.h"

#define NATIVE_MAX_RESULT (6u * 1024 * 1024)	/* Lambda's sync response limit */
#define NATIVE_MAX_TYPE 256
#define NATIVE_MAX_MESSAGE (64u * 1024)
#define NATIVE_MAX_LOG (64u * 1024)
/* Largest message either side accepts: a payload or result plus fields. */
#define NATIVE_MAX_WIRE (NATIVE_MAX_RESULT + 2 * NATIVE_MAX_MESSAGE + 65536)
#define NATIVE_WORKER_NAME "spur-native-worker"
#define NATIVE_WORKER_FD 3

/* ABI 1.0's descriptor ends with fini. */
#define NATIVE_HANDLER_MIN_SIZE \
	(offsetof(struct spur_handler, fini) + sizeof(((struct spur_handler *)0)->fini))

/* dlopen `path` (RTLD_NOW | RTLD_LOCAL) and check its descriptor. 0 with
 * *dl and a copy of the descriptor (zero-filled past its struct_size), or
 * -EINVAL with "PATH: reason" in why. */
int spur_native_open(const char *path, void **dl, struct spur_handler *desc,
		     char *why, size_t len);

/* --- the answer ---------------------------------------------------------- */

enum native_kind {
	NATIVE_NONE = 0,	/* nothing written: the return value decides */
	NATIVE_RESULT,
	NATIVE_ERROR,
};

/* What handle() or init() wrote: kept by the out implementation of each
 * side, copied so the handler may reuse its buffers. */
struct native_answer {
	struct spur_handler_out pub;	/* first: handlers see only this */
	enum native_kind kind;
	char *result;			/* malloc()ed JSON text, NUL-terminated */
	size_t result_len;
	char *type, *message;		/* malloc()ed */
	bool oom;			/* a copy failed for lack of memory */
	/* Where log lines go: the invocation (in-process) or the socket. */
	void (*log_line)(struct native_answer *a, const char *line, size_t len);
	void *log_ud;
};

/* Fill the table and clear the answer. */
void spur_native_answer_init(struct native_answer *a,
			     void (*log_line)(struct native_answer *, const char *, size_t),
			     void *log_ud);
/* Free what the answer holds and clear it (the table stays). */
void spur_native_answer_reset(struct native_answer *a);

/* --- the wire ------------------------------------------------------------ */

enum native_msg {
	NATIVE_MSG_INIT = 1,
	NATIVE_MSG_EVENT = 2,
	NATIVE_MSG_FINI = 3,
	NATIVE_MSG_LOG = 4,
	NATIVE_MSG_REPLY = 5,
};

/* The fixed part of a REPLY. */
struct native_reply {
	int32_t rc;			/* what init/handle returned */
	uint32_t kind;			/* enum native_kind */
	uint32_t oom;			/* a copy failed in the worker */
	uint32_t type_len, message_len;	/* the strings that follow, no NUL */
	uint64_t max_rss;		/* the worker's peak resident bytes */
};

/* A growable buffer of fields (host side). err is -ENOMEM after a failed
 * growth; later puts do nothing. */
struct native_wbuf {
	char *p;
	size_t len, cap;
	int err;
};

void spur_native_put_u32(struct native_wbuf *b, uint32_t v);
void spur_native_put_u64(struct native_wbuf *b, uint64_t v);
void spur_native_put_str(struct native_wbuf *b, const char *s);

/* A cursor over a received message. Reads past the end set err and
 * return zeros or "". */
struct native_rbuf {
	const char *p;
	size_t len, off;
	int err;
};

uint32_t spur_native_get_u32(struct native_rbuf *b);
uint64_t spur_native_get_u64(struct native_rbuf *b);
const char *spur_native_get_str(struct native_rbuf *b);

/* Send one message: `fields` then `tail`, both may be empty. With
 * deadline_ns > 0 the socket is non-blocking and the wait is bounded on
 * spur_now_ns()'s clock (-ETIMEDOUT); with 0 it blocks. Never raises
 * SIGPIPE. 0 or a negative errno (-EPIPE: the peer is gone). */
int spur_native_send(int fd, uint32_t type, const void *fields, size_t flen,
		     const void *tail, size_t tlen, int64_t deadline_ns);
/* Receive one message into *buf (malloc()ed, NUL-terminated; the caller
 * frees). 0, -ETIMEDOUT, -EPIPE at end of file, -EPROTO for a message
 * larger than `max`, -ENOMEM, or another negative errno. */
int spur_native_recv(int fd, uint32_t *type, char **buf, size_t *len, size_t max,
		     int64_t deadline_ns);

/* Monotonic nanoseconds: spur_now_ns() in the plugin, CLOCK_MONOTONIC in
 * the worker (which does not link the SDK's host functions). */
int64_t spur_native_now_ns(void);

#endif
