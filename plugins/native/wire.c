/* SPDX-License-Identifier: MIT */
/*
 * wire.c - the length-prefixed messages between the native plugin and its
 * workers (the protocol is described in native.h). Field buffers, cursors
 * that never read out of bounds, and send/receive with an optional
 * deadline: the host waits with poll() so that a worker that never answers
 * costs it no more than the invocation's timeout.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "native.h"

/* --- fields -------------------------------------------------------------- */

static void put(struct native_wbuf *b, const void *p, size_t n)
{
	if (b->err != 0)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *np;

		while (cap < b->len + n)
			cap *= 2;
		np = realloc(b->p, cap);
		if (np == NULL) {
			b->err = -ENOMEM;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

void spur_native_put_u32(struct native_wbuf *b, uint32_t v)
{
	put(b, &v, sizeof(v));
}

void spur_native_put_u64(struct native_wbuf *b, uint64_t v)
{
	put(b, &v, sizeof(v));
}

void spur_native_put_str(struct native_wbuf *b, const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n > UINT32_MAX - 1) {
		b->err = -E2BIG;
		return;
	}
	spur_native_put_u32(b, (uint32_t)n);
	put(b, s != NULL ? s : "", n);
	put(b, "", 1);
}

static const void *get(struct native_rbuf *b, size_t n)
{
	const void *p;

	if (b->err != 0 || n > b->len - b->off) {
		b->err = -EPROTO;
		return NULL;
	}
	p = b->p + b->off;
	b->off += n;
	return p;
}

uint32_t spur_native_get_u32(struct native_rbuf *b)
{
	const void *p = get(b, sizeof(uint32_t));
	uint32_t v = 0;

	if (p != NULL)
		memcpy(&v, p, sizeof(v));
	return v;
}

uint64_t spur_native_get_u64(struct native_rbuf *b)
{
	const void *p = get(b, sizeof(uint64_t));
	uint64_t v = 0;

	if (p != NULL)
		memcpy(&v, p, sizeof(v));
	return v;
}

const char *spur_native_get_str(struct native_rbuf *b)
{
	uint32_t n = spur_native_get_u32(b);
	const char *s;

	if (b->err != 0 || n == UINT32_MAX)
		goto bad;
	s = get(b, (size_t)n + 1);
	if (s == NULL || s[n] != '\0' || memchr(s, '\0', n) != NULL)
		goto bad;
	return s;
bad:
	b->err = -EPROTO;
	return "";
}

/* --- the socket ---------------------------------------------------------- */

/* Wait for `events` on fd until deadline_ns: 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, int64_t deadline_ns)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int64_t left = deadline_ns - spur_native_now_ns();
	int ms, r;

	if (left <= 0)
		return -ETIMEDOUT;
	/* Round up: waking a little after the deadline beats spinning. */
	ms = left / 1000000 + 1 > INT_MAX ? INT_MAX : (int)(left / 1000000 + 1);
	r = poll(&pfd, 1, ms);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (r == 0)
		return spur_native_now_ns() >= deadline_ns ? -ETIMEDOUT : 0;
	return 0;
}

int spur_native_send(int fd, uint32_t type, const void *fields, size_t flen,
		     const void *tail, size_t tlen, int64_t deadline_ns)
{
	uint32_t hdr[2] = { type, (uint32_t)(flen + tlen) };
	struct iovec iov[3] = {
		{ .iov_base = hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = (void *)fields, .iov_len = flen },
		{ .iov_base = (void *)tail, .iov_len = tlen },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 3 };
	int flags = MSG_NOSIGNAL | (deadline_ns > 0 ? MSG_DONTWAIT : 0);

	if (flen + tlen > NATIVE_MAX_WIRE)
		return -E2BIG;
	for (;;) {
		ssize_t n = sendmsg(fd, &mh, flags);
		int r;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN || deadline_ns <= 0)
				return errno == ECONNRESET ? -EPIPE : -errno;
			r = wait_fd(fd, POLLOUT, deadline_ns);
			if (r < 0)
				return r;
			continue;
		}
		while (mh.msg_iovlen > 0 && (size_t)n >= mh.msg_iov->iov_len) {
			n -= (ssize_t)mh.msg_iov->iov_len;
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
		if (mh.msg_iovlen == 0)
			return 0;
		mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + n;
		mh.msg_iov->iov_len -= (size_t)n;
	}
}

/* Read exactly n bytes. */
static int read_full(int fd, char *p, size_t n, int64_t deadline_ns)
{
	int flags = deadline_ns > 0 ? MSG_DONTWAIT : 0;

	while (n > 0) {
		ssize_t r = recv(fd, p, n, flags);

		if (r > 0) {
			p += r;
			n -= (size_t)r;
		} else if (r == 0) {
			return -EPIPE;
		} else if (errno == EINTR) {
			continue;
		} else if (errno == EAGAIN && deadline_ns > 0) {
			int w = wait_fd(fd, POLLIN, deadline_ns);

			if (w < 0)
				return w;
		} else {
			return errno == ECONNRESET ? -EPIPE : -errno;
		}
	}
	return 0;
}

int spur_native_recv(int fd, uint32_t *type, char **buf, size_t *len, size_t max,
		     int64_t deadline_ns)
{
	uint32_t hdr[2];
	char *p;
	int r = read_full(fd, (char *)hdr, sizeof(hdr), deadline_ns);

	*buf = NULL;
	*len = 0;
	if (r < 0)
		return r;
	if (hdr[1] > max)
		return -EPROTO;
	p = malloc((size_t)hdr[1] + 1);
	if (p == NULL)
		return -ENOMEM;
	r = read_full(fd, p, hdr[1], deadline_ns);
	if (r < 0) {
		free(p);
		return r;
	}
	p[hdr[1]] = '\0';
	*type = hdr[0];
	*buf = p;
	*len = hdr[1];
	return 0;
}
