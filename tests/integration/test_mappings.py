#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_mappings.py - queues and event-source mappings (SPEC 2.3, issue 9)
against a real `spur serve`.

  * 10,000 messages through POST /queues/{name}/messages/batch to a queue
    polled with batch_size 100 and a 1 s window: every message reaches the
    handler at least once, no batch holds more than 100 records, and none
    is lost over a `kill -9` in the middle and a restart;
  * a handler reporting two batchItemFailures per batch sees exactly those
    messages again, max_receive times, then finds them in the dead-letter
    queue, with a RetryAttemptsExhausted record in on_failure;
  * a filter on body.kind invokes only the matching messages, and deletes
    (and counts) the others;
  * intake: single messages, max_depth answers 503 with Retry-After, a
    route with `queue:`; pause / resume through the admin API; the counts
    `spur queue ls` shows.

Handlers log "BATCH <n>" per batch and "GOT <messageId> <receive count>"
per record through ctx.log; the test reads them from the daemon log.
Python 3 standard library only.
"""
import json
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spurtest  # noqa: E402
from spurtest import metric, records, wait_for  # noqa: E402

SINK = """function handle(event, ctx)
  ctx.log('BATCH', #event.Records)
  for _, r in ipairs(event.Records) do
    ctx.log('GOT', r.messageId, r.attributes.ApproximateReceiveCount)
  end
  return {}
end
"""

# Fails the records whose body says {"bad": true}: two per batch below.
PARTIAL = """function handle(event, ctx)
  local failures = {}
  ctx.log('BATCH', #event.Records)
  for _, r in ipairs(event.Records) do
    ctx.log('GOT', r.messageId, r.attributes.ApproximateReceiveCount)
    assert(r.eventSource == 'spur:queue' and r.receiptHandle == r.messageId)
    local b = spur.json.decode(r.body)
    if b.bad then failures[#failures + 1] = { itemIdentifier = r.messageId } end
  end
  return { batchItemFailures = failures }
end
"""

CONFIG = """state_dir: {dir}/var
http: { listen: "127.0.0.1:{port}" }
store: { sync: full }
functions:
  sink: { runtime: lua, code: sink.lua, timeout: 10s }
  partial: { runtime: lua, code: partial.lua }
  picky: { runtime: lua, code: sink.lua }
queues:
  bulk: { visibility_timeout: 2s }
  work: { visibility_timeout: 1s, max_receive: 3, dead_letter: work-dlq }
  work-dlq: {}
  kinds: {}
  small: { max_depth: 3 }
  paused: {}
mappings:
  - source: queue://bulk
    function: sink
    batch_size: 100
    batch_window: 1s
  - source: queue://work
    function: partial
    batch_size: 10
    report_batch_item_failures: true
    on_failure: [ "file://{dir}/exhausted.jsonl" ]
  - source: queue://kinds
    function: picky
    batch_size: 50
    filters: [ { body: { kind: [ "order" ] } } ]
  - source: queue://paused
    function: sink
    enabled: false
routes:
  - http: "POST /hooks/orders"
    queue: kinds
"""

JSON = {"Content-Type": "application/json"}


def got(spur):
    """[(message id, receive count)] in log order."""
    return [(m.group(1), int(m.group(2)))
            for m in re.finditer(r"\tGOT\t([0-9a-f-]{36})\t(\d+)", spur.log())]


def quiet_log(spur):
    """The log without the handlers' lines, for failure messages."""
    return "\n".join(l for l in spur.log().splitlines()
                     if not re.search(r"\t(GOT|BATCH)\t|START R|END R|REPORT R", l))[-6000:]


def batches(spur):
    return [int(n) for n in re.findall(r"\tBATCH\t(\d+)", spur.log())]


class Mappings(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.spur = spurtest.Spur(CONFIG, {"sink.lua": SINK, "partial.lua": PARTIAL},
                                 name="mappings").start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.spur.stop()
        assert rc == 0, "spur exited %s; log:\n%s" % (rc, cls.spur.log()[-4000:])

    def post(self, path, body, headers=JSON):
        st, hdrs, data = self.spur.request("POST", path, body, headers=headers, timeout=30)
        return st, hdrs, json.loads(data) if data else None

    def queue(self, name):
        return spurtest.queues(self.spur)[name]

    def depth(self, name):
        return spurtest.depth(self.spur, name)

    def test_1_ten_thousand_over_kill9(self):
        sent = []

        def send(k):
            st, _, r = self.post("/queues/bulk/messages/batch",
                                 json.dumps([{"n": k * 1000 + i} for i in range(1000)]))
            self.assertEqual(st, 200, r)
            self.assertEqual(len(r["MessageIds"]), 1000)
            sent.extend(r["MessageIds"])

        for k in range(6):
            send(k)
        # crash while batches run, with messages leased and not yet deleted
        wait_for(lambda: got(self.spur), timeout=10, interval=0.005)
        self.spur.kill9()
        before = {g[0] for g in got(self.spur)}
        self.assertLess(len(before), 6000, "all ran before the kill: the crash tests nothing")
        self.spur.start()
        for k in range(6, 10):
            send(k)
        self.assertEqual(len(set(sent)), 10000)
        ids = set(sent)
        seen = wait_for(lambda: ids <= {g[0] for g in got(self.spur)} and ids, timeout=40,
                        interval=0.2)
        missing = ids - {g[0] for g in got(self.spur)}
        self.assertFalse(missing, "%d message(s) never reached the handler" % len(missing))
        self.assertTrue(seen)
        sizes = batches(self.spur)
        self.assertTrue(sizes and max(sizes) <= 100, "batch sizes %s" % sorted(set(sizes)))
        wait_for(lambda: self.depth("bulk") == 0, timeout=10)
        q = self.queue("bulk")
        self.assertEqual(q["visible"] + q["inFlight"], 0, "%s; log:\n%s" % (q, quiet_log(self.spur)))
        self.assertGreaterEqual(metric(self.spur, "spur_mapping_records_total", queue="bulk"), 1)

    def test_2_partial_failures_and_dead_letter(self):
        bodies = [{"i": i, "bad": i in (3, 7)} for i in range(10)]
        st, _, r = self.post("/queues/work/messages/batch", json.dumps(bodies))
        self.assertEqual(st, 200, r)
        ids = r["MessageIds"]
        bad = {ids[3], ids[7]}
        dlq = wait_for(lambda: self.queue("work-dlq")["visible"] == 2, timeout=15)
        self.assertTrue(dlq, "not in the dead-letter queue: %s" % self.queue("work-dlq"))
        seen = [g for g in got(self.spur) if g[0] in ids]
        for i in ids:
            counts = [c for (m, c) in seen if m == i]
            if i in bad:
                self.assertEqual(counts, [1, 2, 3], "failed message %s" % i)
            else:
                self.assertEqual(counts, [1], "good message %s" % i)
        st, _, data = self.spur.request("GET", "/admin/queues/work-dlq/messages?n=10")
        moved = json.loads(data)
        self.assertEqual({m["id"] for m in moved}, bad)
        self.assertTrue(all(json.loads(m["body"] if isinstance(m["body"], str)
                                       else json.dumps(m["body"]))["bad"] for m in moved))
        path = os.path.join(self.spur.dir, "exhausted.jsonl")
        recs = wait_for(lambda: records(path), timeout=10)
        self.assertTrue(recs, "no RetryAttemptsExhausted record")
        self.assertEqual({r["requestContext"]["condition"] for r in recs},
                         {"RetryAttemptsExhausted"})
        info = [r["requestPayload"]["SQSBatchInfo"] for r in recs]
        self.assertEqual({m for i in info for m in i["messageIds"]}, bad)
        self.assertTrue(all(i["deadLetterQueue"] == "work-dlq" for i in info))
        q = self.queue("work")
        self.assertEqual((q["visible"], q["inFlight"], q["deadLettered"]), (0, 0, 2), q)
        self.assertEqual(metric(self.spur, "spur_mapping_failed_records_total",
                                queue="work"), 6)

    def test_3_filter_on_body_kind(self):
        bodies = ([{"kind": "order", "i": i} for i in range(5)] +
                  [{"kind": "refund", "i": i} for i in range(5)] + ["not json", 17])
        st, _, r = self.post("/queues/kinds/messages/batch", json.dumps(bodies))
        self.assertEqual(st, 200, r)
        ids = r["MessageIds"]
        # a route with `queue:` puts the request body as it came
        st, _, r2 = self.post("/hooks/orders", json.dumps({"kind": "order", "i": 99}))
        self.assertEqual(st, 202, r2)
        ok = wait_for(lambda: self.depth("kinds") == 0, timeout=10)
        self.assertTrue(ok, self.queue("kinds"))
        invoked = {g[0] for g in got(self.spur)}
        self.assertEqual({i for i in ids if i in invoked}, set(ids[:5]))
        self.assertIn(r2["eventId"], invoked)
        self.assertEqual(metric(self.spur, "spur_mapping_filtered_total", queue="kinds"), 7)

    def test_4_intake_depth_pause(self):
        for i in range(3):
            st, _, r = self.post("/queues/small/messages", "message %d" % i, headers={})
            self.assertEqual(st, 200, r)
            self.assertRegex(r["MessageId"], r"^[0-9a-f-]{36}$")
        # the store counts the three: max_depth reads that count (at most
        # 200 ms old) plus what was put since it read it, so either way the
        # fourth is over
        self.assertTrue(wait_for(lambda: metric(self.spur, "spur_queue_depth",
                                                queue="small") == 3, 5),
                        self.queue("small"))
        st, hdrs, r = self.post("/queues/small/messages", "one too many", headers={})
        self.assertEqual(st, 503, r)
        self.assertIn("retry-after", hdrs)
        st, _, _ = self.post("/queues/nope/messages", "x")
        self.assertEqual(st, 404)
        st, _, _ = self.post("/queues/small/messages/batch", "{}")
        self.assertEqual(st, 400)
        # paused (enabled: false): messages wait; resume runs them
        st, _, r = self.post("/queues/paused/messages", json.dumps({"p": 1}))
        mid = r["MessageId"]
        st, _, data = self.spur.request("GET", "/admin/mappings")
        ms = json.loads(data)
        self.assertEqual([m["state"] for m in ms], ["enabled"] * 3 + ["paused"])
        q = self.queue("paused")
        self.assertEqual((q["visible"], q["inFlight"]), (1, 0), "taken while paused: %s" % q)
        st, _, _ = self.post("/admin/mappings/3/resume", "")
        self.assertEqual(st, 200)
        self.assertTrue(wait_for(lambda: mid in {g[0] for g in got(self.spur)}, timeout=5))
        # it ran after the resume: its GOT line follows the line spur logs
        # before it wakes the pollers; and it was received once, so no
        # poller leased it while the mapping was paused
        log = self.spur.log()
        resumed = re.search(r"mapping 3 \(queue://paused -> sink\): resumed", log)
        self.assertTrue(resumed, "no 'resumed' line in the log")
        self.assertNotIn("\tGOT\t" + mid, log[:resumed.start()], "it ran while paused")
        self.assertEqual([c for m, c in got(self.spur) if m == mid], [1])
        st, _, _ = self.post("/admin/mappings/3/pause", "")
        self.assertEqual(st, 200)
        st, _, _ = self.post("/admin/mappings/9/pause", "")
        self.assertEqual(st, 404)
        # `spur queue ls`: depth, in flight, dead letters
        p = subprocess.run([spurtest.SPUR, "queue", "-e", "http://127.0.0.1:%d" % self.spur.port,
                            "ls"], capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("IN-FLIGHT", p.stdout)
        self.assertRegex(p.stdout, r"\nsmall\s+3\s+0\s+-")


if __name__ == "__main__":
    unittest.main(verbosity=2)
