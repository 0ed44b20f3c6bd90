/* SPDX-License-Identifier: MIT */
/*
 * mqtt.h - what the files of the mqtt plugin share: the instance (one
 * libmosquitto client per `mqtt:` section), its options, and the entry
 * points of ingress.c (messages in: routes), event.c (what a message
 * says: its event and redelivery digest) and egress.c (records out: the
 * mqtt destination). mqtt.c owns the connection; see its top comment
 * for the threads and the ack window.
 */
#ifndef SPUR_MQTT_PLUGIN_H
#define SPUR_MQTT_PLUGIN_H

#include <pthread.h>
#include <stdatomic.h>
#include <jansson.h>
#include <mosquitto.h>

#include "spur/plugin.h"
#include "spur/text.h"

#define MQ_DEDUP_SLOTS 4096		/* recent stored messages remembered */
#define MQ_DEDUP_TTL_MS (10LL * 60 * 1000)

struct mq_options {
	char *url;			/* NULL: no `mqtt:` section, the plugin idles */
	char *client_id;
	int protocol;			/* index into "5|3.1.1" */
	char *username;
	char *password_env;
	char *ca_file, *cert_file, *key_file;
	int64_t keepalive_ms;
	int64_t session_expiry_ms;
	uint64_t max_payload;
	int64_t reconnect_min_ms, reconnect_max_ms;
	int64_t workers;		/* sync (request/response) worker threads */
	int64_t receive_maximum;	/* QoS 1/2 messages in flight towards spur */
	int64_t flush_timeout_ms;	/* how long a destination flush waits for PUBACKs */
};

/* One subscription: routes with the same effective filter share it. */
struct mq_sub {
	char *filter;			/* "$share/g/f" or "f" */
	const char *match;		/* the route's plain filter, for topic matching */
	int qos;
	const struct spur_route **routes;
	size_t n_routes;
};

struct mq_dedup_slot {
	uint64_t digest;		/* 0: empty */
	int64_t at_ms;
};

struct mq_job;				/* a sync request or an async store waiting for a thread */
struct mq_msg;				/* a message whose events are being stored */

/* Why a message was not run (label `reason` of spur_mqtt_dropped_total). */
enum mq_drop {
	MQ_DROP_UNROUTED,		/* matches no route */
	MQ_DROP_OVERSIZED,		/* over max_payload (a failure record instead) */
	MQ_DROP_DUPLICATE,		/* a redelivery of a stored message */
	MQ_DROP_REJECTED,		/* refused by the route or the function (a failure record) */
	MQ_DROP_UNANSWERED,		/* a request whose answer could not be published */
	MQ_DROPS,
};

/* A publish of a destination batch waiting for its PUBACK. */
struct mq_pending {
	int mid;
	int rc;				/* MQTT reason code; >= 0x80 is a failure */
	bool done;
	const void *owner;		/* the destination that published it */
};

struct mq {
	struct spur_host *host;
	const struct mq_options *opt;
	struct mosquitto *mosq;		/* NULL when idle (no `mqtt:` section) */
	bool v5;
	char host_name[256];
	int port;
	bool tls;
	char *password;			/* from password_env, owned */

	struct mq_sub *subs;
	size_t n_subs;

	/* connection state, guarded by lock */
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* connected changes, PUBACKs, jobs, stop */
	bool connected;
	bool session_up;		/* this connection got a CONNACK success */
	unsigned generation;		/* bumped at every disconnect */
	bool stopping;
	bool started;
	pthread_t net;
	unsigned failures;		/* connection attempts failed in a row */
	int last_error;			/* what the last failure said, to log changes only */

	/* destination PUBACKs (egress.c), guarded by lock */
	struct mq_pending *pending;
	size_t n_pending, cap_pending;

	/* sync request/response workers (ingress.c), guarded by lock */
	pthread_t *workers;
	size_t n_workers;
	pthread_cond_t jobs_cond;
	struct mq_job *jobs_head, *jobs_tail;
	size_t n_jobs;
	bool workers_quit;

	/* async stores (ingress.c): the network thread hands them to the
	 * submitters, which hand finished messages back on `done` and wake
	 * the network thread through wake_fd; guarded by store_lock */
	pthread_mutex_t store_lock;
	pthread_cond_t store_cond;
	struct mq_job *store_head, *store_tail;
	struct mq_msg *done;
	pthread_t *submitters;
	size_t n_submitters;
	bool submitters_quit;
	int wake_fd;			/* an eventfd: stores done, packets queued, stop */

	/* network thread only: messages handed off and not yet collected (no
	 * PUBACK is written while this is above 0), the redelivery ring */
	size_t outstanding;
	struct mq_dedup_slot dedup[MQ_DEDUP_SLOTS];

	/* counters, for the log */
	atomic_ulong n_received, n_stored, n_duplicates, n_rejected, n_oversized,
		n_requests, n_published, n_unrouted;

	/* the same for GET /metrics (spur_mqtt_metrics_init; NULL when idle) */
	struct spur_counter *c_in, *c_out, *c_dropped[MQ_DROPS];
	struct spur_gauge *g_connected;	/* spur_mqtt_connected: 0 or 1 */
};

/* ingress.c */
void spur_mqtt_metrics_init(struct mq *m);	/* registers c_in .. g_connected */
void spur_mqtt_on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg,
			const mosquitto_property *props);
int spur_mqtt_workers_start(struct mq *m);
void spur_mqtt_workers_stop(struct mq *m);
/* Network thread: take the messages whose stores ended (PUBACKs may go
 * out once outstanding is 0); wait until none is left (false: stopping). */
void spur_mqtt_collect(struct mq *m);
bool spur_mqtt_drain(struct mq *m);
void spur_mqtt_wake(struct mq *m);	/* any thread: the network thread looks again */

/* event.c: what a message says, read once on the network thread */
struct mq_in {
	const struct mosquitto_message *msg;
	const mosquitto_property *props;
	char *content_type, *response_topic;
	void *corr;
	uint16_t corr_len;
	uint32_t expiry;
	bool has_expiry;
	struct spur_attr *attrs;
	char **attr_strs;		/* owned names and values, 2 per attr */
	size_t n_attrs;
	json_t *payload;		/* decoded JSON, or NULL */
	bool utf8;
	char *event;
	size_t event_len;
	uint64_t digest;
};
int spur_mqtt_read_props(struct mq_in *in);	/* content type .. user properties */
int spur_mqtt_build_event(struct mq *m, struct mq_in *in);	/* in->event, in->payload, in->utf8 */
uint64_t spur_mqtt_digest(const struct mq_in *in);	/* identifies a redelivery */
void spur_mqtt_in_fini(struct mq_in *in);
/* The redelivery ring m->dedup (network thread only). */
bool spur_mqtt_dedup_seen(struct mq *m, uint64_t d);
void spur_mqtt_dedup_remember(struct mq *m, uint64_t d);

/* egress.c */
extern const struct spur_destination spur_mqtt_destination;
void spur_mqtt_on_publish(struct mosquitto *mosq, void *obj, int mid, int reason,
			const mosquitto_property *props);

/* Small shared helpers (event.c). */
bool spur_mqtt_filters_overlap(const char *a, const char *b);
char *spur_mqtt_base64(const void *data, size_t n);	/* caller frees */

#endif
