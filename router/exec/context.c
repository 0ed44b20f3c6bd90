/* SPDX-License-Identifier: MIT */
/*
 * context.c - execution contexts, per-version pools and the idle reaper
 * (see context.h for the model).
 * Threads: any invoking thread takes and puts contexts; the reaper thread
 * ends idle ones. Cost of a warm take/put: one uncontended mutex each.
 */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "context.h"
#include "function.h"
#include "util.h"

struct spur_context {
	struct spur_pool *pool;
	void *state;			/* the runtime's half */
	uint64_t id;
	uint64_t uses;
	int64_t idle_since;
	struct spur_context *prev, *next;
	bool tmp_made;
	bool busy;			/* counted in the pool's busy gauge */
	char tmp[];			/* scratch directory path */
};

struct spur_pool {
	pthread_mutex_t lock;
	struct spur_function *ver;
	const struct spur_runtime *rt;
	void *rt_instance;
	void *code;
	char *tmp_root;			/* <state_dir>/tmp */
	int64_t ttl_ns;
	int64_t max_uses;
	struct spur_context *head, *tail;	/* idle, most recent first */
	size_t n_idle;
	int provisioned;			/* idle contexts never reaped */
	bool retired;
	atomic_uint_fast64_t cold_starts;
	atomic_size_t busy;
	struct spur_reaper *_Atomic reaper;
};

struct spur_reaper {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	_Atomic int64_t next_wake;	/* INT64_MAX while scanning: puts then signal */
	size_t n, cap;			/* under lock */
	struct spur_pool **pools;
};

static atomic_uint_fast64_t next_context_id = 1;

struct spur_pool *spur_pool_new(struct spur_function *ver, const char *state_dir)
{
	struct spur_pool *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	p->ver = ver;
	p->rt = spur_function_runtime(ver, &p->rt_instance, &p->code);
	const struct spur_fn_config *c = spur_function_config(ver);
	p->ttl_ns = c->idle_ttl_ms * 1000000;
	p->max_uses = c->max_uses;
	struct spur_buf b;
	spur_buf_init(&b);
	spur_buf_printf(&b, "%s/tmp", state_dir);
	p->tmp_root = spur_buf_steal(&b, NULL);
	if (!p->tmp_root) {
		spur_pool_free(p);
		return NULL;
	}
	return p;
}

static void reaper_remove(struct spur_reaper *r, struct spur_pool *pool);

void spur_pool_free(struct spur_pool *pool)
{
	if (!pool)
		return;
	struct spur_reaper *r = atomic_load(&pool->reaper);
	if (r)	/* a pool freed while spur runs (a failed reload): unregister first */
		reaper_remove(r, pool);
	struct spur_context *c = pool->head;
	while (c) {
		struct spur_context *next = c->next;
		spur_context_free(c);
		c = next;
	}
	pthread_mutex_destroy(&pool->lock);
	free(pool->tmp_root);
	free(pool);
}

static void unlink_idle(struct spur_pool *p, struct spur_context *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		p->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		p->tail = c->prev;
	c->prev = c->next = NULL;
	p->n_idle--;
}

struct spur_context *spur_pool_take(struct spur_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	struct spur_context *c = pool->head;
	if (c)
		unlink_idle(pool, c);
	pthread_mutex_unlock(&pool->lock);
	if (c) {
		c->busy = true;
		atomic_fetch_add_explicit(&pool->busy, 1, memory_order_relaxed);
	}
	return c;
}

static void reaper_notify(struct spur_reaper *r, int64_t expiry)
{
	if (!r || expiry >= atomic_load_explicit(&r->next_wake, memory_order_acquire))
		return;
	pthread_mutex_lock(&r->lock);
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
}

void spur_pool_put(struct spur_pool *pool, struct spur_context *c, bool keep)
{
	if (c->busy) {
		c->busy = false;
		atomic_fetch_sub_explicit(&pool->busy, 1, memory_order_relaxed);
	}
	c->uses++;
	if (!keep || pool->retired ||
	    (pool->max_uses > 0 && (int64_t)c->uses >= pool->max_uses)) {
		spur_context_free(c);
		return;
	}
	c->idle_since = spur_now_coarse_ns();	/* idle_ttl is seconds */
	pthread_mutex_lock(&pool->lock);
	c->prev = NULL;
	c->next = pool->head;
	if (pool->head)
		pool->head->prev = c;
	else
		pool->tail = c;
	pool->head = c;
	pool->n_idle++;
	pthread_mutex_unlock(&pool->lock);
	reaper_notify(atomic_load_explicit(&pool->reaper, memory_order_acquire),
		      c->idle_since + pool->ttl_ns);
}

size_t spur_pool_busy(struct spur_pool *pool)
{
	return atomic_load_explicit(&pool->busy, memory_order_relaxed);
}

size_t spur_pool_idle(struct spur_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	size_t n = pool->n_idle;
	pthread_mutex_unlock(&pool->lock);
	return n;
}

int64_t spur_pool_reap(struct spur_pool *pool, int64_t now)
{
	struct spur_context *dead = NULL;
	int64_t next = INT64_MAX;
	pthread_mutex_lock(&pool->lock);
	while (pool->tail && (pool->retired || (pool->n_idle > (size_t)pool->provisioned &&
						pool->tail->idle_since + pool->ttl_ns <= now))) {
		struct spur_context *c = pool->tail;
		unlink_idle(pool, c);
		c->next = dead;
		dead = c;
	}
	if (pool->tail && pool->n_idle > (size_t)pool->provisioned)
		next = pool->tail->idle_since + pool->ttl_ns;
	pthread_mutex_unlock(&pool->lock);
	while (dead) {	/* ending a context can take a while: not under the lock */
		struct spur_context *c = dead;
		dead = c->next;
		spur_context_free(c);
	}
	return next;
}

struct spur_context *spur_context_new(struct spur_pool *pool,
				      struct spur_invocation *init, enum spur_run *run)
{
	uint64_t id = atomic_fetch_add(&next_context_id, 1);
	const char *name = spur_function_name(pool->ver);
	size_t n = strlen(pool->tmp_root) + strlen(name) + 32;
	struct spur_context *c = calloc(1, sizeof(*c) + n);
	if (!c) {
		*run = SPUR_RUN_CRASH;
		spur_invocation_set_error(init, "Runtime.OutOfMemory",
					  "spur could not allocate a context", NULL);
		return NULL;
	}
	c->pool = pool;
	c->id = id;
	atomic_fetch_add(&pool->cold_starts, 1);
	c->busy = true;
	atomic_fetch_add_explicit(&pool->busy, 1, memory_order_relaxed);
	snprintf(c->tmp, n, "%s/%s-%llu", pool->tmp_root, name, (unsigned long long)id);
	*run = pool->rt->context_new(pool->rt_instance, pool->code, c, init, &c->state);
	if (*run != SPUR_RUN_OK) {
		c->state = NULL;
		c->busy = false;
		atomic_fetch_sub_explicit(&pool->busy, 1, memory_order_relaxed);
		spur_context_free(c);
		return NULL;
	}
	return c;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) < 0 ? 0 : 0;	/* best effort: keep removing the rest */
}

void spur_context_free(struct spur_context *c)
{
	if (!c)
		return;
	if (c->busy)
		atomic_fetch_sub_explicit(&c->pool->busy, 1, memory_order_relaxed);
	if (c->state)
		c->pool->rt->context_free(c->pool->rt_instance, c->state);
	if (c->tmp_made)
		nftw(c->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(c);
}

void spur_pool_set_provisioned(struct spur_pool *pool, int n)
{
	pthread_mutex_lock(&pool->lock);
	pool->provisioned = n < 0 ? 0 : n;
	pthread_mutex_unlock(&pool->lock);
}

int spur_pool_provisioned(struct spur_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	int n = pool->provisioned;
	pthread_mutex_unlock(&pool->lock);
	return n;
}

void spur_pool_retire(struct spur_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
	pool->retired = true;
	pool->provisioned = 0;
	pthread_mutex_unlock(&pool->lock);
	spur_pool_reap(pool, spur_now_ns());
}

uint64_t spur_pool_cold_starts(struct spur_pool *pool)
{
	return atomic_load(&pool->cold_starts);
}

void *spur_context_runtime_state(const struct spur_context *c)
{
	return c->state;
}

uint64_t spur_context_uses(const struct spur_context *c)
{
	return c->uses;
}

SPUR_API uint64_t spur_context_id(const struct spur_context *c)
{
	return c->id;
}

SPUR_API const char *spur_context_tmp_dir(const struct spur_context *c)
{
	return c->tmp;
}

SPUR_API int spur_context_tmp_ensure(struct spur_context *c)
{
	if (c->tmp_made)
		return 0;
	if (mkdir(c->pool->tmp_root, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (mkdir(c->tmp, 0700) < 0 && errno != EEXIST)
		return -errno;
	c->tmp_made = true;
	return 0;
}

/* --- the reaper ----------------------------------------------------------- */

static void *reaper_main(void *arg)
{
	struct spur_reaper *r = arg;
	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		atomic_store(&r->next_wake, INT64_MAX);
		int64_t next = INT64_MAX;
		for (size_t i = 0; i < r->n; i++) {
			int64_t t = spur_pool_reap(r->pools[i], spur_now_ns());
			if (t < next)
				next = t;
		}
		atomic_store(&r->next_wake, next);
		if (r->stop)
			break;
		if (next == INT64_MAX) {
			pthread_cond_wait(&r->wake, &r->lock);
		} else {
			struct timespec ts;
			spur_deadline_timespec(next, &ts);
			pthread_cond_timedwait(&r->wake, &r->lock, &ts);
		}
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

struct spur_reaper *spur_reaper_start(void)
{
	struct spur_reaper *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->wake, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&r->lock, NULL);
	atomic_init(&r->next_wake, INT64_MAX);
	if (pthread_create(&r->thread, NULL, reaper_main, r) != 0) {
		pthread_cond_destroy(&r->wake);
		pthread_mutex_destroy(&r->lock);
		free(r);
		return NULL;
	}
	return r;
}

int spur_reaper_add(struct spur_reaper *r, struct spur_pool *pool)
{
	pthread_mutex_lock(&r->lock);
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct spur_pool **p = realloc(r->pools, cap * sizeof(*p));
		if (!p) {
			pthread_mutex_unlock(&r->lock);
			return -ENOMEM;
		}
		r->pools = p;
		r->cap = cap;
	}
	r->pools[r->n++] = pool;
	atomic_store(&pool->reaper, r);
	pthread_cond_signal(&r->wake);	/* rescan: the new pool may hold idle contexts */
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static void reaper_remove(struct spur_reaper *r, struct spur_pool *pool)
{
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n; i++)
		if (r->pools[i] == pool) {
			r->pools[i] = r->pools[--r->n];
			break;
		}
	atomic_store(&pool->reaper, NULL);
	pthread_mutex_unlock(&r->lock);
}

void spur_reaper_stop(struct spur_reaper *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	for (size_t i = 0; i < r->n; i++)
		atomic_store(&r->pools[i]->reaper, NULL);
	pthread_cond_destroy(&r->wake);
	pthread_mutex_destroy(&r->lock);
	free(r->pools);
	free(r);
}
