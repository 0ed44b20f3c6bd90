/* SPDX-License-Identifier: MIT */
/*
 * native.c - the "native" runtime plugin: handlers written in C (or
 * anything with a C ABI) as shared objects, per spur/handler.h.
 *
 * code_load checks the object once per function version: dlopen()ed here
 * (RTLD_NOW | RTLD_LOCAL) for in-process handlers, in a throw-away worker
 * for `isolation: process` ones so that the router never maps them. The
 * checks (symbol, ABI major, descriptor size, handle present) are abi.c's.
 *
 * In-process (the default) a context is the handler's state: init() at the
 * cold start, handle() per invocation on the calling worker thread, fini()
 * when the context ends. Nothing can stop a running handle(): a handler
 * that returns after its deadline gets the timeout error (and its context
 * is replaced), one that never returns hangs its thread. Use
 * `isolation: process` (process.c) for code that is not trusted to behave:
 * each context is then a child process, killed at the deadline.
 *
 * Answers map to runs the same way in both modes (finish()): an error
 * written through `out` is the handler's error; -ENOMEM is out of memory
 * (the context is replaced); another negative return is an "Error"; else
 * the result, or null. Nothing here is global: two functions loading the
 * same object share only the object's own statics.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spur/plugin.h"
#include "native.h"
#include "process.h"

#define DEFAULT_PATH "PATH=/usr/local/bin:/usr/bin:/bin"

struct native_plugin {
	struct spur_host *host;
	char *worker;			/* spur-native-worker beside this module */
};

struct native_code {
	char *path;
	bool isolated;
	void *dl;			/* in-process only */
	struct spur_handler desc;	/* in-process only */
	char **env;			/* the function's env, "K=V", NULL-terminated */
	char **envp;			/* a worker's environment: env + PATH */
	struct native_spawn spawn;	/* isolated only */
	uint64_t memory;
};

struct native_ctx {
	struct native_code *code;
	struct spur_context *host_ctx;
	void *state;			/* in-process: the handler's */
	bool ready;			/* init() succeeded: fini() is owed */
	struct native_proc *proc;	/* isolated: the worker */
	struct native_answer answer;
	struct spur_invocation *inv;	/* the run in progress, for log lines */
	char *payload;			/* a NUL-terminated copy of the event */
	size_t payload_cap;
};

int64_t spur_native_now_ns(void)
{
	return spur_now_ns();
}

/* --- code ---------------------------------------------------------------- */

static void free_strv(char **v)
{
	size_t i;

	for (i = 0; v != NULL && v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

static void code_free(void *instance, void *p)
{
	struct native_code *code = p;

	(void)instance;
	if (code == NULL)
		return;
	if (code->dl != NULL && getenv("SPUR_NO_DLCLOSE") == NULL)
		dlclose(code->dl);
	free_strv(code->env);
	free_strv(code->envp);
	free(code->path);
	free(code);
}

/* code->env from the function's env, and code->envp = env + PATH. */
static int make_env(struct native_code *code, const struct spur_function *fn)
{
	size_t n = spur_function_env_count(fn), i, j = 0;
	bool has_path = false;

	code->env = calloc(n + 1, sizeof(char *));
	code->envp = calloc(n + 2, sizeof(char *));
	if (code->env == NULL || code->envp == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const char *k, *v;

		spur_function_env(fn, i, &k, &v);
		if (asprintf(&code->env[i], "%s=%s", k, v != NULL ? v : "") < 0) {
			code->env[i] = NULL;
			return -ENOMEM;
		}
		has_path |= strcmp(k, "PATH") == 0;
		code->envp[j] = strdup(code->env[i]);
		if (code->envp[j++] == NULL)
			return -ENOMEM;
	}
	if (!has_path && (code->envp[j] = strdup(DEFAULT_PATH)) == NULL)
		return -ENOMEM;
	return 0;
}

static int code_load(void *instance, const struct spur_function *fn,
		     void **out, char *err, size_t errlen)
{
	struct native_plugin *np = instance;
	struct native_code *code = calloc(1, sizeof(*code));
	const char *path = spur_function_code(fn);
	const char *iso = spur_function_option(fn, "isolation");
	int r = -ENOMEM;

	if (code == NULL || (code->path = strdup(path != NULL ? path : "")) == NULL ||
	    make_env(code, fn) < 0) {
		snprintf(err, errlen, "%s: out of memory", path ? path : "(no code)");
		goto fail;
	}
	r = -EINVAL;
	if (iso != NULL && strcmp(iso, "process") != 0 && strcmp(iso, "in-process") != 0) {
		snprintf(err, errlen, "%s: isolation must be in-process or process, not '%s'",
			 path, iso);
		goto fail;
	}
	code->isolated = iso != NULL && strcmp(iso, "process") == 0;
	code->memory = spur_function_memory(fn);
	if (!code->isolated) {
		r = spur_native_open(code->path, &code->dl, &code->desc, err, errlen);
		if (r < 0)
			goto fail;
	} else {
		if (np->worker == NULL || access(np->worker, X_OK) != 0) {
			snprintf(err, errlen, "%s: isolation: process needs %s, which is missing",
				 path, np->worker ? np->worker : NATIVE_WORKER_NAME);
			goto fail;
		}
		code->spawn = (struct native_spawn){
			.worker = np->worker,
			.path = code->path,
			.envp = code->envp,
			.env = (const char *const *)code->env,
			.memory = code->memory,
			.tmp_size = spur_function_tmp_size(fn),
		};
		r = spur_native_proc_check(&code->spawn, spur_function_init_timeout_ms(fn),
					   err, errlen);
		if (r < 0)
			goto fail;
	}
	*out = code;
	return 0;
fail:
	code_free(instance, code);
	return r;
}

/* --- runs ---------------------------------------------------------------- */

static void log_line(struct native_answer *a, const char *line, size_t len)
{
	struct native_ctx *c = a->log_ud;

	if (c->inv != NULL)
		spur_invocation_log(c->inv, line, len);
}

/* The event of `inv` (INIT when payload is false). 0 or -ENOMEM. */
static int fill_event(struct native_ctx *c, struct spur_invocation *inv, bool payload,
		      struct spur_handler_event *ev)
{
	const struct spur_function *fn = spur_invocation_function(inv);
	const char *p = NULL;
	size_t len = 0;

	memset(ev, 0, sizeof(*ev));
	ev->struct_size = sizeof(*ev);
	ev->request_id = spur_invocation_request_id(inv);
	ev->function_name = spur_function_name(fn);
	ev->function_version = spur_function_version(fn);
	ev->invoked_arn = spur_invocation_arn(inv);
	ev->attempt = spur_invocation_attempt(inv);
	ev->deadline_ms = spur_invocation_deadline_epoch_ms(inv);
	ev->tmp_dir = spur_context_tmp_dir(c->host_ctx);
	ev->env = (const char *const *)c->code->env;
	if (!payload)
		return 0;
	p = spur_invocation_payload(inv, &len);
	if (p == NULL || len == 0) {
		p = "{}";
		len = 2;
	}
	if (c->code->isolated) {	/* the worker NUL-terminates its copy */
		ev->payload = p;
		ev->payload_len = len;
		return 0;
	}
	if (len + 1 > c->payload_cap) {
		char *n = realloc(c->payload, len + 1);

		if (n == NULL)
			return -ENOMEM;
		c->payload = n;
		c->payload_cap = len + 1;
	}
	memcpy(c->payload, p, len);
	c->payload[len] = '\0';
	ev->payload = c->payload;
	ev->payload_len = len;
	return 0;
}

static void oom_error(struct spur_invocation *inv, const struct native_code *code)
{
	char msg[96];

	if (code->isolated && code->memory > 0)
		snprintf(msg, sizeof(msg), "memory limit of %llu MiB exceeded",
			 (unsigned long long)((code->memory + (1u << 20) - 1) >> 20));
	else
		snprintf(msg, sizeof(msg), "out of memory");
	spur_invocation_set_error(inv, "Runtime.OutOfMemory", msg, NULL);
}

/* What the handler's answer and return value come to (see the top). */
static enum spur_run finish(struct native_ctx *c, struct spur_invocation *inv, int rc,
			    bool init)
{
	struct native_answer *a = &c->answer;
	enum spur_run run = SPUR_RUN_ERROR;
	char msg[128], *m = NULL;

	if (rc == -ENOMEM || (a->oom && a->kind != NATIVE_RESULT)) {
		oom_error(inv, c->code);
		run = SPUR_RUN_OOM;
	} else if (a->kind == NATIVE_ERROR && init) {
		/* Lambda's type for any INIT failure; the handler's own type
		 * leads the message. */
		if (strcmp(a->type, "Error") != 0 &&
		    asprintf(&m, "%s: %s", a->type, a->message) < 0)
			m = NULL;
		spur_invocation_set_error(inv, "Runtime.InitError", m ? m : a->message, NULL);
		free(m);
	} else if (a->kind == NATIVE_ERROR) {
		spur_invocation_set_error(inv, a->type, a->message, NULL);
	} else if (rc < 0) {
		snprintf(msg, sizeof(msg), "%s returned %d (%s)", init ? "init()" : "handle()",
			 rc, spur_strerror(rc));
		spur_invocation_set_error(inv, init ? "Runtime.InitError" : "Error", msg, NULL);
	} else if (init) {
		run = SPUR_RUN_OK;
	} else if (a->kind == NATIVE_RESULT) {
		spur_invocation_take_result(inv, a->result, a->result_len);
		a->result = NULL;
		run = SPUR_RUN_OK;
	} else {
		run = spur_invocation_set_result(inv, "null", 4) == 0 ? SPUR_RUN_OK : SPUR_RUN_OOM;
	}
	spur_native_answer_reset(a);
	return run;
}

static void context_free(void *instance, void *p)
{
	struct native_ctx *c = p;

	(void)instance;
	if (c == NULL)
		return;
	if (c->proc != NULL)
		spur_native_proc_free(c->proc);
	else if (c->code->desc.fini != NULL && (c->ready || c->state != NULL))
		c->code->desc.fini(c->state);	/* after a failed init(): only what it set */
	spur_native_answer_reset(&c->answer);
	free(c->payload);
	free(c);
}

static enum spur_run context_new(void *instance, void *codep,
				 struct spur_context *host_ctx,
				 struct spur_invocation *init, void **out)
{
	struct native_code *code = codep;
	struct native_ctx *c = calloc(1, sizeof(*c));
	struct spur_handler_event ev;
	enum spur_run run = SPUR_RUN_OOM;
	char msg[PATH_MAX + 64];
	int rc = 0, r;

	if (c == NULL) {
		oom_error(init, code);
		return SPUR_RUN_OOM;
	}
	c->code = code;
	c->host_ctx = host_ctx;
	c->inv = init;
	spur_native_answer_init(&c->answer, log_line, c);
	r = spur_context_tmp_ensure(host_ctx);
	if (r < 0) {
		snprintf(msg, sizeof(msg), "cannot create the scratch directory %s: %s",
			 spur_context_tmp_dir(host_ctx), spur_strerror(r));
		spur_invocation_set_error(init, "Runtime.InitError", msg, NULL);
		run = SPUR_RUN_ERROR;
		goto fail;
	}
	fill_event(c, init, false, &ev);
	if (code->isolated) {
		run = spur_native_proc_new(&code->spawn, &ev, init, &c->answer, &rc, &c->proc);
		if (run != SPUR_RUN_OK)
			goto fail;
	} else if (code->desc.init != NULL) {
		rc = code->desc.init(&c->state, &ev, &c->answer.pub);
		if (spur_now_ns() > spur_invocation_deadline_ns(init)) {
			c->ready = rc >= 0 && c->answer.kind != NATIVE_ERROR;
			run = SPUR_RUN_TIMEOUT;	/* too late to count */
			goto fail;
		}
	}
	run = finish(c, init, rc, true);
	if (run != SPUR_RUN_OK)
		goto fail;
	c->ready = true;
	c->inv = NULL;
	*out = c;
	return SPUR_RUN_OK;
fail:
	c->inv = NULL;
	context_free(instance, c);
	return run;
}

static enum spur_run invoke(void *p, struct spur_invocation *inv)
{
	struct native_ctx *c = p;
	struct spur_handler_event ev;
	enum spur_run run;
	int rc;

	c->inv = inv;
	if (fill_event(c, inv, true, &ev) < 0) {
		oom_error(inv, c->code);
		run = SPUR_RUN_OOM;
	} else if (c->proc != NULL) {
		run = spur_native_proc_run(c->proc, &ev, inv, &c->answer, &rc);
		if (run == SPUR_RUN_OK)
			run = finish(c, inv, rc, false);
	} else {
		rc = c->code->desc.handle(c->state, &ev, &c->answer.pub);
		if (spur_now_ns() > spur_invocation_deadline_ns(inv)) {
			spur_native_answer_reset(&c->answer);
			run = SPUR_RUN_TIMEOUT;	/* it ran past its deadline */
		} else {
			run = finish(c, inv, rc, false);
		}
	}
	c->inv = NULL;
	return run;
}

/* --- the plugin ---------------------------------------------------------- */

/* The worker executable sits beside this module (build tree and install). */
static char *worker_path(void)
{
	Dl_info di;
	const char *slash;
	char *path;

	if (dladdr((void *)worker_path, &di) == 0 || di.dli_fname == NULL)
		return NULL;
	slash = strrchr(di.dli_fname, '/');
	if (slash == NULL)
		return strdup("./" NATIVE_WORKER_NAME);
	if (asprintf(&path, "%.*s/%s", (int)(slash - di.dli_fname), di.dli_fname,
		     NATIVE_WORKER_NAME) < 0)
		return NULL;
	return path;
}

static int plugin_init(struct spur_host *host, const void *options, void **instance)
{
	struct native_plugin *np = calloc(1, sizeof(*np));

	(void)options;
	if (np == NULL)
		return -ENOMEM;
	np->host = host;
	np->worker = worker_path();
	*instance = np;
	return 0;
}

static void plugin_fini(void *instance)
{
	struct native_plugin *np = instance;

	if (np == NULL)
		return;
	free(np->worker);
	free(np);
}

static const struct spur_runtime native_runtime = {
	.struct_size = sizeof(struct spur_runtime),
	.name = "native",
	.code_load = code_load,
	.code_free = code_free,
	.context_new = context_new,
	.context_free = context_free,
	.invoke = invoke,
};

/* The keys of a native function beside the core's (spur_function_option). */
static const struct spur_option native_function_options[] = {
	{ .type = SPUR_OPT_ENUM, .name = "isolation", .def = "in-process",
	  .choices = "in-process|process",
	  .description = "in-process, or one child process per execution context" },
	{ .name = NULL },
};

SPUR_PLUGIN_EXPORT = {
	.abi_major = SPUR_ABI_MAJOR,
	.abi_minor = SPUR_ABI_MINOR,
	.struct_size = sizeof(struct spur_plugin),
	.option_size = sizeof(struct spur_option),
	.name = "native",
	.version = "0.1.0",
	.description = "native handlers (shared objects, spur/handler.h), in-process "
		       "or one child process per context",
	.roles = SPUR_ROLE_RUNTIME,
	.options = NULL,
	.options_size = 0,
	.init = plugin_init,
	.fini = plugin_fini,
	.runtime = &native_runtime,
	.function_options = native_function_options,
};
