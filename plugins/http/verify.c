/* SPDX-License-Identifier: MIT */
/*
 * verify.c - signature checks of `http:` routes with a `verify:` key
 * (SPEC §4.3): github, stripe or standard-webhooks, over the raw body,
 * before any event is built, so a delivery that fails the check runs and
 * stores nothing: it gets 401 {"message": ...}.
 *
 * The secret is read from the environment variable `verify.secret_env`
 * once, when the routes are compiled (plugin init), and kept as an HMAC
 * key wiped at free. A route whose variable is unset (or, for
 * standard-webhooks, not a whsec_<base64> secret) still starts: it is
 * logged then, and each of its requests is answered 500 and logged,
 * since the fault is spur's configuration, not the sender's.
 *
 * Runs in the thread serving the request; the route is read-only, so no
 * lock. A check costs one HMAC pass over the body.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"

int spur_http_verify_compile(struct spur_http *srv, const struct spur_route *sr,
			     struct http_route *r)
{
	const char *scheme = spur_route_option(sr, "verify.scheme");
	const char *env = spur_route_option(sr, "verify.secret_env");
	const char *file = spur_config_file(srv->host) ? spur_config_file(srv->host) : "config";
	enum spur_sig_scheme s;
	const char *secret;

	if (!scheme && !env)
		return 0;
	if (spur_sig_scheme_parse(scheme, &s) < 0 || !env) {
		spur_log(srv->host, SPUR_LOG_ERROR,
			 "%s:%d: route '%s': verify needs scheme (github | stripe | standard-webhooks) and secret_env",
			 file, r->line, r->route_key);
		return -EINVAL;
	}
	r->verify = s;
	r->verify_env = strdup(env);
	if (!r->verify_env)
		return -ENOMEM;
	secret = getenv(env);
	if (!secret || !*secret) {
		spur_log(srv->host, SPUR_LOG_WARN,
			 "%s:%d: route '%s': %s is not set: its requests will be answered 500 "
			 "until spur runs with the %s secret in %s",
			 file, r->line, r->route_key, env, scheme, env);
		return 0;
	}
	int err = spur_sig_key_init(&r->verify_key, s, secret);
	if (err == -EINVAL)
		spur_log(srv->host, SPUR_LOG_WARN,
			 "%s:%d: route '%s': %s does not hold a whsec_<base64> secret: "
			 "its requests will be answered 500", file, r->line, r->route_key, env);
	return err == -ENOMEM ? err : 0;
}

void spur_http_verify_fini(struct http_route *r)
{
	spur_sig_key_fini(&r->verify_key);
	free(r->verify_env);
	r->verify_env = NULL;
	r->verify = SPUR_SIG_NONE;
}

static const char *header(void *cls, const char *name)
{
	return spur_http_header(cls, name);
}

bool spur_http_verify(struct http_req *rq, struct MHD_Connection *c, enum MHD_Result *ret)
{
	const struct http_route *r = rq->route;
	enum spur_sig_result res;

	if (r->verify == SPUR_SIG_NONE)
		return true;
	if (!r->verify_key.bytes) {
		spur_log(rq->srv->host, SPUR_LOG_ERROR,
			 "route '%s' (%s): cannot check the %s signature: %s is not set or not usable",
			 r->route_key, spur_http_request_id(rq), spur_sig_scheme_name(r->verify),
			 r->verify_env);
		*ret = spur_http_error(rq, c, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL,
				       "signature secret not configured");
		return false;
	}
	res = spur_sig_verify(r->verify, &r->verify_key, header, c,
			      rq->len ? rq->body : "", rq->len, (int64_t)time(NULL));
	if (res == SPUR_SIG_OK)
		return true;
	spur_log(rq->srv->host, SPUR_LOG_INFO, "route '%s' (%s): 401: %s signature: %s",
		 r->route_key, spur_http_request_id(rq), spur_sig_scheme_name(r->verify),
		 spur_sig_result_str(res));
	*ret = spur_http_error(rq, c, MHD_HTTP_UNAUTHORIZED, NULL, "%s", spur_sig_result_str(res));
	return false;
}
