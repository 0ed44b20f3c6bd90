/* SPDX-License-Identifier: MIT */
/*
 * ingress.c - messages in: from a PUBLISH to a stored event or an answer.
 *
 * The message callback runs on the network thread (mqtt.c). It finds the
 * message's routes (MQTT 5: by the Subscription Identifier mqtt.c gave
 * each subscription; 3.1.1, or an identifier this config does not know:
 * by matching the topic against the route filters), builds the handler's
 * event (SPEC §4.4) once, and for each route:
 *
 *   async  the event goes to a submitter thread (at most MQ_SUBMITTERS,
 *          no more than receive_maximum), which runs spur_invoke(ASYNC):
 *          it returns once the event is in the store, in a group commit
 *          shared with the other submitters' events. The network thread
 *          writes the PUBACK libmosquitto queued only after every message
 *          handed over has come back (spur_mqtt_collect; see mqtt.c, the ack
 *          window). If the store cannot take it (disk full, draining)
 *          the socket is shut down when it comes back instead: the queued
 *          PUBACK is never written, the broker redelivers after the
 *          reconnect. Nothing acknowledged is dropped.
 *   sync   (MQTT 5 request/response) a copy goes to a small worker pool;
 *          a worker runs spur_invoke(SYNC) and publishes the result to the
 *          Response Topic with the same Correlation Data. A function error
 *          is published too: the Lambda error object with the user
 *          property spur-error: Unhandled (or Handled, or the error type of
 *          a spur failure such as ResourceNotFoundException). Handlers
 *          never run on the network thread.
 *
 * Refusals, each a failure record (spur_reject: condition InvalidInput, to
 * the function's on_failure, e.g. a dead-letter queue), a log line and a
 * counter, and the message is acknowledged (never redelivered forever):
 * a payload over max_payload (the broker drops far larger ones, see
 * mqtt.c), and on a `payload: json` route a payload that is not UTF-8
 * JSON.
 *
 * The event and the redelivery digest are built in event.c (see there).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <time.h>
#include <mqtt_protocol.h>

#include "mqtt.h"

#define MQ_MAX_JOBS 1024		/* sync requests waiting for a worker */
#define MQ_REJECT_KEEP 1024		/* bytes of an oversized payload kept in its record */
#define MQ_STORE_TRIES 5
#define MQ_SUBMITTERS 32		/* async stores in flight: events per group commit */

struct mq_job {
	struct mq_job *next;
	const struct spur_route *route;
	char *event;
	size_t event_len;
	char *response_topic;		/* NULL: run, publish nothing */
	void *corr;
	size_t corr_len;
	struct spur_attr *attrs;
	size_t n_attrs;
	char *attr_mem;			/* names and values of attrs */
	struct mq_msg *msg;		/* async: the message it belongs to; NULL: sync */
};

/* A message with async routes, from the callback until the network thread
 * collects it (all its stores ended). */
struct mq_msg {
	struct mq_msg *next;		/* on m->done */
	char *topic;			/* for the log */
	uint64_t digest;		/* remembered once stored (QoS 1/2) */
	int qos;
	atomic_size_t left;		/* stores not ended yet */
	atomic_bool failed;		/* one was not stored: no PUBACK, redelivery */
};


/* --- refusals and the store -------------------------------------------- */

/* Kill the connection without the queued PUBACK: the broker redelivers. */
static void refuse_ack(struct mq *m, const char *topic, const char *why)
{
	spur_log(m->host, SPUR_LOG_ERROR,
		 "mqtt: message on %s not stored (%s): dropping the connection so the broker "
		 "redelivers it", topic, why);
	int fd = mosquitto_socket(m->mosq);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

/* 0 done (stored, duplicate, or refused with a record), -EAGAIN not stored. */
static int reject(struct mq *m, const struct spur_route *r, const char *topic,
		  const char *reason, const void *data, size_t len)
{
	spur_log(m->host, SPUR_LOG_WARN, "mqtt: refused a message on %s for %s (route at line %d): %s",
		 topic, spur_route_target(r), spur_route_line(r), reason);
	atomic_fetch_add(&m->n_rejected, 1);
	int rc = spur_reject(m->host, r, reason, data, len);
	if (rc == -ENOENT)
		return 0;	/* no function or no store: nothing to record it in */
	return rc < 0 ? -EAGAIN : 0;
}

/* On a submitter thread: store one route's event (one group commit). */
static int store_async(struct mq *m, const struct mq_job *j)
{
	const struct spur_route *r = j->route;
	struct spur_invoke_args a = {
		.struct_size = sizeof(a),
		.attr_size = sizeof(struct spur_attr),
		.target = spur_route_target(r),
		.payload = j->event,
		.payload_len = j->event_len,
		.mode = SPUR_MODE_ASYNC,
		.source = "mqtt",
		.attrs = j->attrs,
		.n_attrs = j->n_attrs,
		.route = r,
	};
	for (int attempt = 0; attempt < MQ_STORE_TRIES; attempt++) {
		struct spur_result *res = spur_invoke(m->host, &a);
		enum spur_status st = res ? spur_result_status(res) : SPUR_STATUS_INTERNAL;
		char why[300];
		int rc;

		switch (st) {
		case SPUR_STATUS_ACCEPTED:
			if (spur_result_replayed(res)) {
				atomic_fetch_add(&m->n_duplicates, 1);
				spur_counter_add(m->c_dropped[MQ_DROP_DUPLICATE], 1);
			} else
				atomic_fetch_add(&m->n_stored, 1);
			spur_result_free(res);
			return 0;
		case SPUR_STATUS_UNAVAILABLE:
		case SPUR_STATUS_THROTTLED:
		case SPUR_STATUS_INTERNAL:
			spur_result_free(res);
			/* short waits only: the message's PUBACK, and every one
			 * queued after it, waits for this */
			nanosleep(&(struct timespec){ 0, (50L << attempt) * 1000000L }, NULL);
			continue;
		default:
			snprintf(why, sizeof(why), "%s: %s",
				 res ? spur_result_error_type(res) : "ServiceException",
				 res ? spur_result_error_message(res) : "out of memory");
			spur_result_free(res);
			spur_counter_add(m->c_dropped[MQ_DROP_REJECTED], 1);
			rc = reject(m, r, j->msg->topic, why, j->event, j->event_len);
			return rc;
		}
	}
	return -EAGAIN;
}

/* --- sync: the worker pool ----------------------------------------------- */

static void job_free(struct mq_job *j)
{
	if (!j)
		return;
	free(j->event);
	free(j->response_topic);
	free(j->corr);
	free(j->attrs);
	free(j->attr_mem);
	free(j);
}

static struct mq_job *job_new(const struct spur_route *r, struct mq_in *in)
{
	struct mq_job *j = calloc(1, sizeof(*j));
	size_t mem = 0, off = 0;
	if (!j)
		return NULL;
	j->route = r;
	j->event = in->event;
	j->event_len = in->event_len;
	in->event = NULL;	/* the event of the last route moves; others copy */
	if (in->response_topic && !(j->response_topic = strdup(in->response_topic)))
		goto fail;
	if (in->corr) {
		if (!(j->corr = malloc(in->corr_len)))
			goto fail;
		memcpy(j->corr, in->corr, in->corr_len);
		j->corr_len = in->corr_len;
	}
	for (size_t i = 0; i < in->n_attrs; i++)
		mem += strlen(in->attrs[i].name) + in->attrs[i].value_len + 2;
	if (in->n_attrs) {
		j->attrs = calloc(in->n_attrs, sizeof(*j->attrs));
		j->attr_mem = malloc(mem);
		if (!j->attrs || !j->attr_mem)
			goto fail;
		for (size_t i = 0; i < in->n_attrs; i++) {
			size_t nl = strlen(in->attrs[i].name) + 1, vl = in->attrs[i].value_len + 1;
			memcpy(j->attr_mem + off, in->attrs[i].name, nl);
			j->attrs[i].name = j->attr_mem + off;
			off += nl;
			memcpy(j->attr_mem + off, in->attrs[i].value, vl);
			j->attrs[i].value = j->attr_mem + off;
			j->attrs[i].value_len = vl - 1;
			off += vl;
		}
		j->n_attrs = in->n_attrs;
	}
	return j;
fail:
	job_free(j);
	return NULL;
}

static void respond(struct mq *m, struct mq_job *j, const char *body, size_t len,
		    const char *error, const char *request_id)
{
	mosquitto_property *p = NULL;
	if (!j->response_topic)
		return;
	mosquitto_property_add_string(&p, MQTT_PROP_CONTENT_TYPE, "application/json");
	if (j->corr)
		mosquitto_property_add_binary(&p, MQTT_PROP_CORRELATION_DATA, j->corr,
					      (uint16_t)j->corr_len);
	if (error)
		mosquitto_property_add_string_pair(&p, MQTT_PROP_USER_PROPERTY, "spur-error", error);
	if (request_id)
		mosquitto_property_add_string_pair(&p, MQTT_PROP_USER_PROPERTY, "spur-request-id",
						   request_id);
	int rc = mosquitto_publish_v5(m->mosq, NULL, j->response_topic, (int)len, body, 1, false, p);
	mosquitto_property_free_all(&p);
	spur_mqtt_wake(m);	/* the network thread writes it */
	spur_counter_add(rc == MOSQ_ERR_SUCCESS ? m->c_out : m->c_dropped[MQ_DROP_UNANSWERED], 1);
	if (rc != MOSQ_ERR_SUCCESS)
		spur_log(m->host, SPUR_LOG_WARN, "mqtt: cannot answer on %s: %s", j->response_topic,
			 mosquitto_strerror(rc));
	else
		atomic_fetch_add(&m->n_requests, 1);
}

static void run_job(struct mq *m, struct mq_job *j)
{
	struct spur_invoke_args a = {
		.struct_size = sizeof(a),
		.attr_size = sizeof(struct spur_attr),
		.target = spur_route_target(j->route),
		.payload = j->event,
		.payload_len = j->event_len,
		.mode = SPUR_MODE_SYNC,
		.source = "mqtt",
		.attrs = j->attrs,
		.n_attrs = j->n_attrs,
		.route = j->route,
	};
	struct spur_result *res = spur_invoke(m->host, &a);
	if (!res) {
		static const char oom[] = "{\"errorMessage\":\"out of memory\","
					  "\"errorType\":\"ServiceException\"}";
		respond(m, j, oom, sizeof(oom) - 1, "ServiceException", NULL);
		return;
	}
	if (spur_result_status(res) == SPUR_STATUS_OK) {
		size_t len = 0;
		const char *body = spur_result_body(res, &len);
		respond(m, j, body, len, spur_result_function_error(res), spur_result_request_id(res));
	} else {
		json_t *e = json_pack("{s:s, s:s}",
				      "errorMessage", spur_result_error_message(res) ?
				      spur_result_error_message(res) : "",
				      "errorType", spur_result_error_type(res) ?
				      spur_result_error_type(res) : "ServiceException");
		char *body = e ? json_dumps(e, JSON_COMPACT) : NULL;
		if (body)
			respond(m, j, body, strlen(body), spur_result_error_type(res),
				spur_result_request_id(res));
		free(body);
		json_decref(e);
	}
	spur_result_free(res);
}

static void *worker_main(void *arg)
{
	struct mq *m = arg;
	for (;;) {
		pthread_mutex_lock(&m->lock);
		while (!m->jobs_head && !m->workers_quit)
			pthread_cond_wait(&m->jobs_cond, &m->lock);
		if (m->workers_quit) {
			pthread_mutex_unlock(&m->lock);
			return NULL;
		}
		struct mq_job *j = m->jobs_head;
		m->jobs_head = j->next;
		if (!m->jobs_head)
			m->jobs_tail = NULL;
		m->n_jobs--;
		pthread_mutex_unlock(&m->lock);
		run_job(m, j);
		job_free(j);
	}
}

static int submitters_start(struct mq *m);

int spur_mqtt_workers_start(struct mq *m)
{
	int src = submitters_start(m);
	if (src < 0) {
		spur_mqtt_workers_stop(m);
		return src;
	}
	m->workers = calloc((size_t)m->opt->workers, sizeof(*m->workers));
	if (!m->workers)
		return -ENOMEM;
	for (int64_t i = 0; i < m->opt->workers; i++) {
		int rc = pthread_create(&m->workers[i], NULL, worker_main, m);
		if (rc != 0) {
			spur_mqtt_workers_stop(m);
			return -rc;
		}
		m->n_workers++;
	}
	return 0;
}

/* After the network thread ended: requests still queued are not run (their
 * callers time out, as with any lost request/response). */
void spur_mqtt_workers_stop(struct mq *m)
{
	size_t dropped = 0;
	pthread_mutex_lock(&m->lock);
	m->workers_quit = true;
	pthread_cond_broadcast(&m->jobs_cond);
	pthread_mutex_unlock(&m->lock);
	for (size_t i = 0; i < m->n_workers; i++)
		pthread_join(m->workers[i], NULL);
	free(m->workers);
	m->workers = NULL;
	m->n_workers = 0;
	while (m->jobs_head) {
		struct mq_job *j = m->jobs_head;
		m->jobs_head = j->next;
		job_free(j);
		dropped++;
	}
	m->jobs_tail = NULL;
	m->n_jobs = 0;
	spur_counter_add(m->c_dropped[MQ_DROP_UNANSWERED], dropped);
	if (dropped)
		spur_log(m->host, SPUR_LOG_WARN, "mqtt: %zu request(s) not answered at shutdown", dropped);

	/* the submitters: stores still queued are dropped, their messages
	 * were never acknowledged (the broker keeps them in the session) */
	pthread_mutex_lock(&m->store_lock);
	m->submitters_quit = true;
	pthread_cond_broadcast(&m->store_cond);
	pthread_mutex_unlock(&m->store_lock);
	for (size_t i = 0; i < m->n_submitters; i++)
		pthread_join(m->submitters[i], NULL);
	free(m->submitters);
	m->submitters = NULL;
	m->n_submitters = 0;
	while (m->store_head) {
		struct mq_job *j = m->store_head;
		m->store_head = j->next;
		struct mq_msg *g = j->msg;
		job_free(j);
		if (atomic_fetch_sub(&g->left, 1) == 1) {
			g->next = m->done;
			m->done = g;
		}
	}
	m->store_tail = NULL;
	while (m->done) {
		struct mq_msg *g = m->done;
		m->done = g->next;
		free(g->topic);
		free(g);
	}
	m->outstanding = 0;
}

/* --- async: the submitters ----------------------------------------------- */

void spur_mqtt_wake(struct mq *m)
{
	uint64_t one = 1;
	if (m->wake_fd >= 0 && write(m->wake_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, so the network thread wakes anyway */
	}
}

/* Each submitter stores one event at a time; the store commits the events
 * of all submitters that wait together in one group commit. */
static void *submitter_main(void *arg)
{
	struct mq *m = arg;
	for (;;) {
		pthread_mutex_lock(&m->store_lock);
		while (!m->store_head && !m->submitters_quit)
			pthread_cond_wait(&m->store_cond, &m->store_lock);
		if (m->submitters_quit) {
			pthread_mutex_unlock(&m->store_lock);
			return NULL;
		}
		struct mq_job *j = m->store_head;
		m->store_head = j->next;
		if (!m->store_head)
			m->store_tail = NULL;
		pthread_mutex_unlock(&m->store_lock);

		struct mq_msg *g = j->msg;
		if (store_async(m, j) < 0)
			atomic_store(&g->failed, true);
		job_free(j);
		if (atomic_fetch_sub(&g->left, 1) == 1) {
			pthread_mutex_lock(&m->store_lock);
			g->next = m->done;
			m->done = g;
			pthread_mutex_unlock(&m->store_lock);
			spur_mqtt_wake(m);
		}
	}
}

/* As many as events may share a commit: up to the messages the broker
 * sends before it waits for PUBACKs (receive_maximum), at most
 * MQ_SUBMITTERS; none without an async route. */
static int submitters_start(struct mq *m)
{
	size_t n = 0, want = MQ_SUBMITTERS;
	for (size_t i = 0; i < m->n_subs; i++)
		for (size_t k = 0; k < m->subs[i].n_routes; k++)
			if (spur_route_mode(m->subs[i].routes[k]) != SPUR_MODE_SYNC)
				n++;
	if (n == 0)
		return 0;
	if (m->v5 && (size_t)m->opt->receive_maximum < want)
		want = (size_t)m->opt->receive_maximum;
	m->submitters = calloc(want, sizeof(*m->submitters));
	if (!m->submitters)
		return -ENOMEM;
	for (size_t i = 0; i < want; i++) {
		int rc = pthread_create(&m->submitters[i], NULL, submitter_main, m);
		if (rc != 0)
			return -rc;
		m->n_submitters++;
	}
	return 0;
}

void spur_mqtt_collect(struct mq *m)
{
	uint64_t v;
	if (read(m->wake_fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing to read */
	}
	pthread_mutex_lock(&m->store_lock);
	struct mq_msg *g = m->done;
	m->done = NULL;
	pthread_mutex_unlock(&m->store_lock);
	while (g) {
		struct mq_msg *next = g->next;
		if (atomic_load(&g->failed))
			refuse_ack(m, g->topic, "the store cannot take writes");
		else if (g->qos > 0)
			spur_mqtt_dedup_remember(m, g->digest);
		m->outstanding--;
		free(g->topic);
		free(g);
		g = next;
	}
}

bool spur_mqtt_drain(struct mq *m)
{
	int64_t deadline = spur_now_ns() + 1500LL * 1000000;	/* when stopping: within MQ_JOIN_MS */
	for (;;) {
		spur_mqtt_collect(m);
		if (m->outstanding == 0)
			return true;
		pthread_mutex_lock(&m->lock);
		bool stopping = m->stopping;
		pthread_mutex_unlock(&m->lock);
		if (stopping && spur_now_ns() > deadline)
			return false;
		struct pollfd p = { .fd = m->wake_fd, .events = POLLIN };
		poll(&p, 1, 100);
	}
}

/* Copy what a thread needs of the message; the event moves on the last route. */
static struct mq_job *job_for(struct mq *m, const struct spur_route *r, struct mq_in *in,
			      bool last)
{
	char *keep = NULL;
	if (!last && in->event && !(keep = strdup(in->event)))
		return NULL;
	struct mq_job *j = job_new(r, in);
	if (keep)
		in->event = keep;
	return j;
}

static void enqueue_sync(struct mq *m, const struct spur_route *r, struct mq_in *in, bool last)
{
	struct mq_job *j = job_for(m, r, in, last);
	if (!j) {
		spur_log(m->host, SPUR_LOG_ERROR, "mqtt: out of memory for a request on %s", in->msg->topic);
		return;
	}
	pthread_mutex_lock(&m->lock);
	bool full = m->n_jobs >= MQ_MAX_JOBS;
	if (!full) {
		if (m->jobs_tail)
			m->jobs_tail->next = j;
		else
			m->jobs_head = j;
		m->jobs_tail = j;
		m->n_jobs++;
		pthread_cond_signal(&m->jobs_cond);
	}
	pthread_mutex_unlock(&m->lock);
	if (full) {
		static const char busy[] = "{\"errorMessage\":\"too many requests waiting\","
					   "\"errorType\":\"TooManyRequestsException\"}";
		respond(m, j, busy, sizeof(busy) - 1, "TooManyRequestsException", NULL);
		job_free(j);
	}
}

/* --- the message callback ------------------------------------------------ */

/* Which subscriptions does the message belong to? marks[i] for subs[i]. */
static size_t find_subs(struct mq *m, const struct mosquitto_message *msg,
			const mosquitto_property *props, bool *marks)
{
	size_t n = 0;
	const mosquitto_property *p = props;
	uint32_t id;
	bool first = true;
	while (m->v5 && p &&
	       (p = mosquitto_property_read_varint(p, MQTT_PROP_SUBSCRIPTION_IDENTIFIER, &id, !first))) {
		first = false;
		bool hit = false;
		if (id >= 1 && id <= m->n_subs &&
		    mosquitto_topic_matches_sub(m->subs[id - 1].match, msg->topic, &hit) == 0 && hit &&
		    !marks[id - 1]) {
			marks[id - 1] = true;
			n++;
		}
	}
	if (n)
		return n;
	for (size_t i = 0; i < m->n_subs; i++) {
		bool hit = false;
		if (mosquitto_topic_matches_sub(m->subs[i].match, msg->topic, &hit) == 0 && hit) {
			marks[i] = true;
			n++;
		}
	}
	return n;
}

/* A payload over max_payload: a failure record (with its first bytes)
 * for each matching route; the PUBACK waits if one could not be stored. */
static void reject_oversized(struct mq *m, const struct mosquitto_message *msg,
			     const bool *marks)
{
	char why[200];
	bool failed = false;
	atomic_fetch_add(&m->n_oversized, 1);
	spur_counter_add(m->c_dropped[MQ_DROP_OVERSIZED], 1);
	snprintf(why, sizeof(why), "payload of %d bytes is over mqtt.max_payload (%llu bytes); "
		 "the record keeps its first %d bytes", msg->payloadlen,
		 (unsigned long long)m->opt->max_payload, MQ_REJECT_KEEP);
	for (size_t i = 0; i < m->n_subs; i++)
		for (size_t k = 0; marks[i] && k < m->subs[i].n_routes; k++)
			if (reject(m, m->subs[i].routes[k], msg->topic, why, msg->payload,
				   (size_t)msg->payloadlen < MQ_REJECT_KEEP ?
				   (size_t)msg->payloadlen : MQ_REJECT_KEEP) < 0)
				failed = true;
	if (failed)
		refuse_ack(m, msg->topic, "the failure record could not be stored");
}

/* Queue the async routes' stores for the submitters; the PUBACK
 * libmosquitto queued is written once they all ended (spur_mqtt_collect). */
static void hand_to_stores(struct mq *m, const struct mosquitto_message *msg, uint64_t digest,
			   struct mq_job *stores, size_t n_stores, bool failed)
{
	struct mq_msg *g = calloc(1, sizeof(*g));
	char *topic = g ? strdup(msg->topic) : NULL;
	if (!topic) {
		free(g);
		while (stores) {
			struct mq_job *j = stores;
			stores = j->next;
			job_free(j);
		}
		refuse_ack(m, msg->topic, "out of memory");
		return;
	}
	g->topic = topic;
	g->digest = digest;
	g->qos = msg->qos;
	atomic_init(&g->left, n_stores);
	atomic_init(&g->failed, failed);
	struct mq_job *last = stores;
	for (struct mq_job *j = stores; j; j = j->next) {
		j->msg = g;
		last = j;
	}
	m->outstanding++;
	pthread_mutex_lock(&m->store_lock);
	if (m->store_tail)
		m->store_tail->next = stores;
	else
		m->store_head = stores;
	m->store_tail = last;
	for (size_t i = 0; i < n_stores; i++)
		pthread_cond_signal(&m->store_cond);
	pthread_mutex_unlock(&m->store_lock);
}

void spur_mqtt_on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg,
			const mosquitto_property *props)
{
	struct mq *m = obj;
	struct mq_in in = { .msg = msg, .props = props };
	bool marks[m->n_subs ? m->n_subs : 1];
	size_t n_routes = 0, done = 0, n_stores = 0;
	struct mq_job *stores = NULL;
	bool failed = false;

	atomic_fetch_add(&m->n_received, 1);
	spur_counter_add(m->c_in, 1);
	memset(marks, 0, sizeof(marks));
	if (find_subs(m, msg, props, marks) == 0) {
		spur_counter_add(m->c_dropped[MQ_DROP_UNROUTED], 1);
		if (atomic_fetch_add(&m->n_unrouted, 1) == 0)
			spur_log(m->host, SPUR_LOG_WARN,
				 "mqtt: a message on %s matches no route (a subscription left in the "
				 "persistent session by an older config?); dropped", msg->topic);
		return;
	}
	for (size_t i = 0; i < m->n_subs; i++)
		if (marks[i])
			n_routes += m->subs[i].n_routes;

	if ((uint64_t)msg->payloadlen > m->opt->max_payload) {
		reject_oversized(m, msg, marks);
		return;
	}
	if (spur_mqtt_read_props(&in) < 0 || spur_mqtt_build_event(m, &in) < 0) {
		refuse_ack(m, msg->topic, "out of memory");
		goto out;
	}
	if (msg->qos > 0) {
		in.digest = spur_mqtt_digest(&in);
		if (spur_mqtt_dedup_seen(m, in.digest)) {
			unsigned long n = atomic_fetch_add(&m->n_duplicates, 1) + 1;
			spur_counter_add(m->c_dropped[MQ_DROP_DUPLICATE], 1);
			spur_log(m->host, SPUR_LOG_INFO,
				 "mqtt: dropped a redelivery of a stored message (topic %s, packet id %d; "
				 "%lu so far)", msg->topic, msg->mid, n);
			goto out;
		}
	}
	for (size_t i = 0; i < m->n_subs; i++) {
		for (size_t k = 0; marks[i] && k < m->subs[i].n_routes; k++) {
			const struct spur_route *r = m->subs[i].routes[k];
			const char *want = spur_route_option(r, "payload");
			done++;
			if (want && strcmp(want, "json") == 0 && !in.payload) {
				spur_counter_add(m->c_dropped[MQ_DROP_REJECTED], 1);
				if (reject(m, r, msg->topic, in.utf8 ? "payload is not JSON" :
					   "payload is not UTF-8 (so not JSON)",
					   msg->payload, (size_t)msg->payloadlen) < 0)
					failed = true;
				continue;
			}
			if (spur_route_mode(r) == SPUR_MODE_SYNC) {
				if (!in.response_topic)
					spur_log(m->host, SPUR_LOG_DEBUG,
						 "mqtt: request on %s has no Response Topic: run, not answered",
						 msg->topic);
				enqueue_sync(m, r, &in, done == n_routes);
				continue;
			}
			struct mq_job *j = job_for(m, r, &in, done == n_routes);
			if (!j) {
				spur_log(m->host, SPUR_LOG_ERROR, "mqtt: out of memory for a message on %s",
					 msg->topic);
				failed = true;
				continue;
			}
			j->next = stores;
			stores = j;
			n_stores++;
		}
	}
	if (n_stores) {
		hand_to_stores(m, msg, in.digest, stores, n_stores, failed);
		goto out;
	}
	if (failed)
		refuse_ack(m, msg->topic, "the store cannot take writes");
	else if (msg->qos > 0)
		spur_mqtt_dedup_remember(m, in.digest);
out:
	spur_mqtt_in_fini(&in);
}

void spur_mqtt_metrics_init(struct mq *m)
{
	static const char *const reason[MQ_DROPS] = {
		"unrouted", "oversized", "duplicate", "rejected", "unanswered",
	};
	char labels[64];
	m->c_in = spur_counter_get(m->host, "spur_mqtt_messages_total",
				   "MQTT messages received (in) and published (out).",
				   "direction=\"in\"");
	m->c_out = spur_counter_get(m->host, "spur_mqtt_messages_total",
				    "MQTT messages received (in) and published (out).",
				    "direction=\"out\"");
	for (int i = 0; i < MQ_DROPS; i++) {
		snprintf(labels, sizeof(labels), "reason=\"%s\"", reason[i]);
		m->c_dropped[i] = spur_counter_get(m->host, "spur_mqtt_dropped_total",
						   "MQTT messages received and not run, by reason.",
						   labels);
	}
	m->g_connected = spur_gauge_get(m->host, "spur_mqtt_connected",
					"1 while connected to the MQTT broker, else 0.", NULL);
}
