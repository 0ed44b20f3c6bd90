/* SPDX-License-Identifier: MIT */
/*
 * mapping_batch.c - the SQS shape of a mapping's batches (see mapping.c
 * for the rules): copying taken messages into a batch under the 6 MB cap,
 * the {"Records": [...]} record JSON with its attributes and md5OfBody,
 * the filter check, the batchItemFailures answer, and the SQSBatchInfo
 * payload of a RetryAttemptsExhausted record.
 * Threads: called by one poller on its own batch.
 */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "config.h"
#include "mapping_priv.h"
#include "util.h"

#define RECORD_OVERHEAD 640		/* bytes of a record around its body, roughly */

/* --- taking a batch ------------------------------------------------------------------ */

void spur_mapping_batch_clear(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->it[i].body);
	b->n = 0;
	b->bytes = 0;
	b->first_ms = 0;
	b->n_over = 0;
	b->oom = false;
}

void spur_mapping_batch_fini(struct batch *b)
{
	spur_mapping_batch_clear(b);
	free(b->it);
	free(b->over);
}

void spur_mapping_take_cb(void *ud, const struct spur_msg *msg)
{
	struct batch *b = ud;
	size_t need = msg->body_len + strlen(msg->id) + RECORD_OVERHEAD;
	if (b->n && b->bytes + need > SPUR_MAPPING_MAX_BATCH_BYTES) {
		if (b->n_over == b->cap_over) {
			size_t cap = b->cap_over ? b->cap_over * 2 : 16;
			void *p = realloc(b->over, cap * sizeof(*b->over));
			if (!p) {
				b->oom = true;	/* its lease ends by itself */
				return;
			}
			b->over = p;
			b->cap_over = cap;
		}
		snprintf(b->over[b->n_over++], sizeof(*b->over), "%s", msg->id);
		return;
	}
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		void *p = realloc(b->it, cap * sizeof(*b->it));
		if (!p) {
			b->oom = true;
			return;
		}
		b->it = p;
		b->cap = cap;
	}
	struct item *it = &b->it[b->n];
	*it = (struct item){
		.len = msg->body_len, .accepted_ms = msg->accepted_ms,
		.receive_count = msg->receive_count,
	};
	snprintf(it->id, sizeof(it->id), "%s", msg->id);
	it->body = malloc(msg->body_len + 1);
	if (!it->body) {
		b->oom = true;
		return;
	}
	memcpy(it->body, msg->body, msg->body_len);
	it->body[msg->body_len] = '\0';
	b->bytes += need;
	b->n++;
}

/* --- the records -------------------------------------------------------------------- */

static void md5_hex(const char *s, size_t n, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	static const char hex[] = "0123456789abcdef";
	if (!EVP_Digest(s, n, md, &len, EVP_md5(), NULL))
		len = 0;
	for (unsigned i = 0; i < len && i < 16; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[len ? 32 : 0] = '\0';
}

/* ApproximateFirstReceiveTimestamp: the store does not keep it; estimated
 * from the receive count and the lease. */
static int64_t first_receive_ms(const struct mapping *mp, const struct item *it, int64_t now)
{
	int64_t t = now - (int64_t)(it->receive_count - 1) * mp->q->cfg->visibility_timeout_ms;
	return t < it->accepted_ms ? it->accepted_ms : t;
}

static void attrs_json(struct spur_buf *b, const struct mapping *mp, const struct item *it,
		       int64_t now)
{
	spur_buf_printf(b, "{\"ApproximateReceiveCount\":\"%u\",\"SentTimestamp\":\"%lld\","
			"\"SenderId\":\"spur\",\"ApproximateFirstReceiveTimestamp\":\"%lld\"}",
			it->receive_count, (long long)it->accepted_ms,
			(long long)first_receive_ms(mp, it, now));
}

void spur_mapping_record_json(struct spur_buf *b, const struct mapping *mp,
			      const struct item *it, int64_t now)
{
	const struct spur_config *cfg = mp->set->env.config;
	char md5[33];
	md5_hex(it->body, it->len, md5);
	spur_buf_puts(b, "{\"messageId\":");
	spur_buf_json_string(b, it->id, strlen(it->id));
	spur_buf_puts(b, ",\"receiptHandle\":");
	spur_buf_json_string(b, it->id, strlen(it->id));
	spur_buf_puts(b, ",\"body\":");
	spur_buf_json_string(b, it->body, it->len);
	spur_buf_puts(b, ",\"attributes\":");
	attrs_json(b, mp, it, now);
	spur_buf_printf(b, ",\"messageAttributes\":{},\"md5OfBody\":\"%s\","
			"\"eventSource\":\"spur:queue\",\"eventSourceARN\":", md5);
	spur_buf_json_string(b, mp->source_arn, strlen(mp->source_arn));
	spur_buf_puts(b, ",\"awsRegion\":");
	spur_buf_json_string(b, cfg->arn_region, strlen(cfg->arn_region));
	spur_buf_puts(b, "}");
}

/* Does the record pass the mapping's filters? {"body": JSON or string,
 * "attributes": {...}} is what the patterns see. */
bool spur_mapping_passes(const struct mapping *mp, const struct item *it, int64_t now)
{
	if (!mp->filter)
		return true;
	struct spur_buf a;
	spur_buf_init(&a);
	attrs_json(&a, mp, it, now);
	json_t *body = json_loadb(it->body, it->len, JSON_DECODE_ANY, NULL);
	if (!body)
		body = json_stringn_nocheck(it->body, it->len);
	json_t *ev = json_pack("{s:o?, s:o?}", "body", body,
			       "attributes", a.failed ? NULL : json_loadb(a.data, a.len, 0, NULL));
	bool ok = ev ? spur_filter_match(mp->filter, ev) : true;	/* no memory: let it run */
	json_decref(ev);
	spur_buf_fini(&a);
	return ok;
}

static struct item *find_item(struct batch *b, const char *id)
{
	for (size_t i = 0; id && i < b->n; i++)
		if (b->it[i].fate == ITEM_LIVE && strcmp(b->it[i].id, id) == 0)
			return &b->it[i];
	return NULL;
}

/* The answer of a function that reports batch item failures: mark the
 * listed records ITEM_KEEP. false: a malformed answer or an unknown id
 * (the whole batch failed). */
bool spur_mapping_item_failures(struct batch *b, const char *body, size_t len)
{
	json_t *j = body && len ? json_loadb(body, len, JSON_DECODE_ANY, NULL) : NULL;
	bool ok = false;
	if (!body || !len || json_is_null(j)) {
		ok = true;	/* no answer: full success */
		goto done;
	}
	if (!json_is_object(j))
		goto done;
	json_t *list = json_object_get(j, "batchItemFailures");
	if (!list || json_is_null(list)) {
		ok = true;
		goto done;
	}
	if (!json_is_array(list))
		goto done;
	size_t i;
	json_t *e;
	json_array_foreach(list, i, e) {	/* check all before marking any */
		const char *id = json_string_value(json_object_get(e, "itemIdentifier"));
		if (!id || !*id || !find_item(b, id))
			goto done;
	}
	json_array_foreach(list, i, e)
		find_item(b, json_string_value(json_object_get(e, "itemIdentifier")))->fate = ITEM_KEEP;
	ok = true;
done:
	json_decref(j);
	return ok;
}

/* The RetryAttemptsExhausted record's requestPayload: the batch's metadata. */
char *spur_mapping_batch_info(const struct mapping *mp, const struct batch *b, int64_t now,
			      const char *request_id, size_t *len)
{
	struct spur_buf s;
	size_t n = 0;
	int64_t first = INT64_MAX, last = 0;
	uint32_t max_rc = 0;
	spur_buf_init(&s);
	spur_buf_puts(&s, "{\"SQSBatchInfo\":{\"eventSourceARN\":");
	spur_buf_json_string(&s, mp->source_arn, strlen(mp->source_arn));
	spur_buf_puts(&s, ",\"queue\":");
	spur_buf_json_string(&s, mp->q->cfg->name, strlen(mp->q->cfg->name));
	spur_buf_puts(&s, ",\"deadLetterQueue\":");
	spur_buf_json_string(&s, mp->q->cfg->dead_letter, strlen(mp->q->cfg->dead_letter));
	spur_buf_puts(&s, ",\"batchRequestId\":");
	spur_buf_json_string(&s, request_id, strlen(request_id));
	spur_buf_puts(&s, ",\"messageIds\":[");
	for (size_t i = 0; i < b->n; i++) {
		const struct item *it = &b->it[i];
		if (it->fate != ITEM_REDRIVE)
			continue;
		spur_buf_puts(&s, n++ ? "," : "");
		spur_buf_json_string(&s, it->id, strlen(it->id));
		first = it->accepted_ms < first ? it->accepted_ms : first;
		last = it->accepted_ms > last ? it->accepted_ms : last;
		max_rc = it->receive_count > max_rc ? it->receive_count : max_rc;
	}
	char t1[32], t2[32], t3[32];
	spur_time_rfc3339(t3);
	snprintf(t1, sizeof(t1), "%lld", (long long)first);
	snprintf(t2, sizeof(t2), "%lld", (long long)last);
	spur_buf_printf(&s, "],\"batchSize\":%zu,\"approximateReceiveCount\":%u,"
			"\"firstSentTimestamp\":%s,\"lastSentTimestamp\":%s,\"redrivenAt\":\"%s\","
			"\"redrivenAtMs\":%lld}}", n, max_rc, t1, t2, t3, (long long)now);
	return spur_buf_steal(&s, len);
}
