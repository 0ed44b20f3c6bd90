#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_cloudevents.py - CloudEvents 1.0 on http routes and W3C trace
propagation, against a real `spur serve`.

SPEC 4.3 (CloudEvents) and issue 7 items 3 and 4:

* Binary mode (ce-* headers, percent-decoded; JSON, text and binary
  data), structured mode (application/cloudevents+json, data or
  data_base64) and batch mode (application/cloudevents-batch+json, one
  invocation per event; sync → an array of results, async → eventIds)
  reach a Lua handler whose event is the CloudEvent in JSON form. A
  missing required attribute, a header that decodes to invalid UTF-8, an
  unsupported specversion or malformed JSON is a 400 naming it, and
  nothing runs. `idempotency: { key: cloudevents }` replays the same
  source + id in binary and structured mode.
* Tracing: a traceparent / tracestate sent with a webhook is in
  ctx.trace, in the record (requestContext.traceContext) and in the
  headers of the HTTP destination (a Python http.server receiver); an
  async event keeps it on its retry and after a kill -9 and restart;
  invalid traceparents are dropped; a CloudEvent's traceparent extension
  counts. With mosquitto: it comes out as MQTT 5 user properties on an
  mqtt destination, and an MQTT 5 traceparent user property reaches
  ctx.trace.
* Interop: the npm `cloudevents` package's HTTP emitter (binary,
  structured) and HTTP transport (batch), installed at test time under
  the build directory (skipped with a message when npm or the install
  fails).

Runs are counted from the daemon log: handlers log "RAN <id or tag>".
Python 3 standard library only (plus node, mosquitto when present).
"""
import base64
import json
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spurtest  # noqa: E402
from spurtest import wait_for  # noqa: E402

TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TS = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"

# -- handlers ------------------------------------------------------------------
SHOW = """function handle(event, ctx)
  local tag = event.id
  if tag == nil and type(event.body) == 'string' then
    local ok, b = pcall(spur.json.decode, event.body)
    if ok and type(b) == 'table' then tag = b.tag end
  end
  if tag == nil and type(event.payload) == 'table' then tag = event.payload.tag end
  ctx.log('RAN', tostring(tag))
  if ctx.trace then
    ctx.log('TRACE', tostring(tag), ctx.attempt, ctx.trace.traceparent,
            tostring(ctx.trace.tracestate), ctx.trace.trace_id)
  end
  return { event = event, trace = ctx.trace }
end
"""
FLAKY = """function handle(event, ctx)
  local tp = ctx.trace and ctx.trace.traceparent or 'none'
  ctx.log('FLAKY', ctx.attempt, tp)
  if ctx.attempt < 2 then error('the first attempt fails on purpose') end
  return { attempt = ctx.attempt, trace = ctx.trace }
end
"""
FILES = {"show.lua": SHOW, "flaky.lua": FLAKY}

CONFIG = """state_dir: {dir}/var
http: { listen: "127.0.0.1:{port}" }
store: { sync: full }
functions:
  show:
    runtime: lua
    code: show.lua
  showasync:
    runtime: lua
    code: show.lua
    async: { on_success: [ recv ] }
  keyed:
    runtime: lua
    code: show.lua
  flaky:
    runtime: lua
    code: flaky.lua
    async: { max_retries: 2, backoff: { base: 100ms, factor: 2, cap: 1s }, on_success: [ recv ] }
routes:
  - http: "POST /ce"
    function: show
  - http: "POST /ce-async"
    function: showasync
    mode: async
  - http: "POST /ce-keyed"
    function: keyed
    idempotency: { key: cloudevents }
  - http: "POST /ce-keyed-async"
    function: keyed
    mode: async
    idempotency: { key: cloudevents }
  - http: "POST /hook"
    function: showasync
    mode: async
  - http: "POST /flaky"
    function: flaky
    mode: async
destinations:
  recv: { type: http, url: "http://127.0.0.1:{rport}/recv" }
"""


SPUR = None
RECEIVER = None


def setUpModule():
    global SPUR, RECEIVER
    RECEIVER = spurtest.Receiver()
    SPUR = spurtest.Spur(CONFIG.replace("{rport}", str(RECEIVER.port)), FILES,
                         name="cloudevents", env={"SPUR_ADMIN_TOKEN": ""}).start()


def tearDownModule():
    rc = SPUR.stop() if SPUR else 0
    if RECEIVER:
        RECEIVER.stop()
    assert rc == 0, "spur exited with %s" % rc


# -- helpers -------------------------------------------------------------------
def runs(tag, spur=None):
    """spurtest.runs() of spur, by default this module's daemon."""
    return spurtest.runs(spur or SPUR, tag)


def stays_zero(fn):
    """spurtest.stays_zero() of this module's daemon."""
    return spurtest.stays_zero(SPUR, fn)


def binary_headers(eid, **extra):
    h = {"ce-specversion": "1.0", "ce-id": eid, "ce-source": "/spur/tests",
         "ce-type": "com.example.test", "Content-Type": "application/json"}
    h.update(extra)
    return h


def structured(eid, **extra):
    ev = {"specversion": "1.0", "id": eid, "source": "/spur/tests", "type": "com.example.test"}
    ev.update(extra)
    return ev


def post(path, body, headers):
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    return SPUR.request("POST", path, body, headers=headers)


CE_JSON = {"Content-Type": "application/cloudevents+json; charset=utf-8"}
CE_BATCH = {"Content-Type": "application/cloudevents-batch+json"}


# -- binary mode --------------------------------------------------------------------
class Binary(unittest.TestCase):

    def test_json_data_and_decoded_attributes(self):
        h = binary_headers("bin-1", **{"ce-subject": "hello%20w%C3%B6rld%20%E2%82%AC",
                                       "ce-myext": "a%2Bb+c%25", "CE-Other": "plain"})
        status, _, body = post("/ce", {"x": 1, "list": [1, 2, 3]}, h)
        self.assertEqual(status, 200, body)
        ev = json.loads(body)["event"]
        self.assertEqual(ev["specversion"], "1.0")
        self.assertEqual(ev["id"], "bin-1")
        self.assertEqual(ev["source"], "/spur/tests")
        self.assertEqual(ev["type"], "com.example.test")
        self.assertEqual(ev["subject"], "hello w\u00f6rld \u20ac")
        self.assertEqual(ev["myext"], "a+b+c%")
        self.assertEqual(ev["other"], "plain")
        self.assertEqual(ev["datacontenttype"], "application/json")
        self.assertEqual(ev["data"], {"x": 1, "list": [1, 2, 3]})
        self.assertNotIn("routeKey", ev)     # not an API Gateway event
        self.assertEqual(runs("bin-1"), 1)

    def test_text_and_binary_data(self):
        status, _, body = post("/ce", "just some text", binary_headers(
            "bin-text", **{"Content-Type": "text/plain; charset=utf-8"}))
        self.assertEqual(status, 200, body)
        ev = json.loads(body)["event"]
        self.assertEqual(ev["data"], "just some text")
        self.assertEqual(ev["datacontenttype"], "text/plain; charset=utf-8")
        raw = b"\x00\x01\xfe\xffbinary"
        status, _, body = post("/ce", raw, binary_headers(
            "bin-raw", **{"Content-Type": "application/octet-stream"}))
        self.assertEqual(status, 200, body)
        ev = json.loads(body)["event"]
        self.assertNotIn("data", ev)
        self.assertEqual(base64.b64decode(ev["data_base64"]), raw)
        # no body: no data
        status, _, body = post("/ce", b"", binary_headers("bin-empty"))
        self.assertEqual(status, 200, body)
        ev = json.loads(body)["event"]
        self.assertNotIn("data", ev)
        self.assertNotIn("data_base64", ev)

    def test_missing_attributes(self):
        for name in ("ce-id", "ce-source", "ce-type"):
            h = binary_headers("bin-miss-" + name)
            del h[name]
            status, _, body = post("/ce", {"tag": "m"}, h)
            self.assertEqual(status, 400, body)
            msg = json.loads(body)["message"]
            self.assertIn("'%s'" % name[3:], msg)
            self.assertIn("missing", msg)
        self.assertTrue(stays_zero(lambda: sum(runs("bin-miss-" + n)
                                               for n in ("ce-id", "ce-source", "ce-type"))))

    def test_invalid_input(self):
        cases = [
            ({"ce-subject": "%C3%28"}, "UTF-8"),            # percent-decodes to invalid UTF-8
            ({"ce-subject": "%FF%FE"}, "UTF-8"),
            ({"ce-subject": "caf\xe9"}, "UTF-8"),           # a raw Latin-1 byte
            ({"ce-subject": "a%00b"}, "NUL"),
            ({"ce-specversion": "0.3"}, "specversion"),
            ({"ce-id": ""}, "'id'"),
            ({"ce-bad_name": "x"}, "ce-bad_name"),
        ]
        for i, (extra, want) in enumerate(cases):
            eid = "bin-bad-%d" % i
            status, _, body = post("/ce", {"tag": eid}, binary_headers(eid, **extra))
            self.assertEqual(status, 400, (extra, body))
            self.assertIn(want, json.loads(body)["message"], extra)
        # JSON data that is not JSON
        status, _, body = post("/ce", b"{not json", binary_headers("bin-badjson"))
        self.assertEqual(status, 400, body)
        self.assertIn("JSON", json.loads(body)["message"])
        # data that would smuggle members into the event
        status, _, body = post("/ce", b'1,"id":"evil"', binary_headers("bin-smuggle"))
        self.assertEqual(status, 400, body)
        self.assertTrue(stays_zero(lambda: runs("evil") + sum(
            runs("bin-bad-%d" % i) for i in range(len(cases)))))

    def test_raw_utf8_header_is_fine(self):
        status, _, body = SPUR.request("POST", "/ce", b"{}", headers=binary_headers(
            "bin-utf8", **{"ce-subject": "caf\u00e9".encode().decode("latin-1")}))
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["event"]["subject"], "caf\u00e9")

    def test_plain_request_is_api_gateway(self):
        status, _, body = post("/ce", {"tag": "plain"}, {"Content-Type": "application/json"})
        self.assertEqual(status, 200, body)
        ev = json.loads(body)["event"]
        self.assertEqual(ev["version"], "2.0")
        self.assertEqual(ev["routeKey"], "POST /ce")

    def test_async(self):
        status, _, body = post("/ce-async", {"k": "v"}, binary_headers("bin-async"))
        self.assertEqual(status, 202, body)
        self.assertIn("eventId", json.loads(body))
        self.assertTrue(wait_for(lambda: runs("bin-async") == 1, 10), SPUR.log())


# -- structured mode ----------------------------------------------------------------
class Structured(unittest.TestCase):

    def test_data(self):
        ev = structured("st-1", subject="s", myext="v", datacontenttype="application/json",
                        data={"k": [1, 2], "s": "t\u00e9"})
        # ce-* headers do not apply in structured mode
        h = dict(CE_JSON, **{"ce-id": "header-id", "ce-subject": "header"})
        status, _, body = post("/ce", ev, h)
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["event"], ev)
        self.assertEqual(runs("st-1"), 1)

    def test_data_base64(self):
        ev = structured("st-b64", datacontenttype="application/octet-stream",
                        data_base64=base64.b64encode(b"\x00\xff").decode())
        status, _, body = post("/ce", ev, CE_JSON)
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["event"], ev)

    def test_invalid(self):
        cases = [
            ({k: v for k, v in structured("st-m1").items() if k != "source"}, "'source'"),
            ({k: v for k, v in structured("st-m2").items() if k != "type"}, "'type'"),
            ({k: v for k, v in structured("st-m3").items() if k != "specversion"},
             "'specversion'"),
            (structured("st-m4", specversion="0.3"), "specversion"),
            (structured(5), "'id'"),
            (structured("st-m5", data=1, data_base64="AA=="), "not both"),
            (structured("st-m6", Bad="x"), "'Bad'"),
            (structured("st-m7", ext={"a": 1}), "'ext'"),
            ([structured("st-m8")], "object"),
        ]
        for doc, want in cases:
            status, _, body = post("/ce", doc, CE_JSON)
            self.assertEqual(status, 400, (doc, body))
            self.assertIn(want, json.loads(body)["message"], doc)
        for raw in (b"", b"{", b'{"id": "\xff"}'):
            status, _, body = post("/ce", raw, CE_JSON)
            self.assertEqual(status, 400, (raw, body))
        self.assertTrue(stays_zero(lambda: sum(runs("st-m%d" % i) for i in range(1, 9))))

    def test_other_format_unsupported(self):
        status, _, body = post("/ce", b"\x00", {"Content-Type": "application/cloudevents+avro"})
        self.assertEqual(status, 415, body)


# -- batch mode ---------------------------------------------------------------------
class Batch(unittest.TestCase):

    def test_sync(self):
        evs = [structured("ba-1", data={"n": 1}), structured("ba-2", data="two"),
               structured("ba-3", data_base64="AAE=")]
        status, hdrs, body = post("/ce", evs, CE_BATCH)
        self.assertEqual(status, 200, body)
        self.assertTrue(hdrs["content-type"].startswith("application/json"))
        out = json.loads(body)
        self.assertEqual([r["event"] for r in out], evs)
        for e in evs:
            self.assertEqual(runs(e["id"]), 1)
        # an empty batch runs nothing
        status, _, body = post("/ce", [], CE_BATCH)
        self.assertEqual((status, json.loads(body)), (200, []))

    def test_async(self):
        evs = [structured("bb-%d" % i, data={"i": i}) for i in range(3)]
        status, _, body = post("/ce-async", evs, CE_BATCH)
        self.assertEqual(status, 202, body)
        ids = json.loads(body)["eventIds"]
        self.assertEqual(len(ids), 3)
        self.assertEqual(len(set(ids)), 3)
        self.assertTrue(wait_for(lambda: all(runs(e["id"]) == 1 for e in evs), 10), SPUR.log())
        # every event has its record
        for eid in ids:
            self.assertTrue(wait_for(lambda: RECEIVER.for_event(eid), 10), eid)

    def test_invalid(self):
        evs = [structured("bc-1"), {k: v for k, v in structured("bc-2").items() if k != "id"}]
        status, _, body = post("/ce", evs, CE_BATCH)
        self.assertEqual(status, 400, body)
        msg = json.loads(body)["message"]
        self.assertIn("event 2", msg)
        self.assertIn("'id'", msg)
        for raw in (b'{"id": 1}', b"[1]", b"[" + json.dumps(structured("bc-3")).encode(),
                    b"[" + json.dumps(structured("bc-4")).encode() + b"] x"):
            status, _, body = post("/ce", raw, CE_BATCH)
            self.assertEqual(status, 400, (raw, body))
        self.assertTrue(stays_zero(lambda: sum(runs("bc-%d" % i) for i in range(1, 5))))


# -- idempotency ----------------------------------------------------------------------
class Idempotency(unittest.TestCase):

    def test_binary_replay(self):
        h = binary_headers("idem-b1", **{"ce-source": "/idem/bin"})
        s1, h1, b1 = post("/ce-keyed", {"v": 1}, h)
        s2, h2, b2 = post("/ce-keyed", {"v": 1}, h)
        self.assertEqual((s1, s2), (200, 200), (b1, b2))
        self.assertNotIn("idempotent-replayed", h1)
        self.assertEqual(h2.get("idempotent-replayed"), "true")
        self.assertEqual(json.loads(b1), json.loads(b2))
        self.assertEqual(runs("idem-b1"), 1)
        # same id from another source is another event
        s3, h3, _ = post("/ce-keyed", {"v": 1}, dict(h, **{"ce-source": "/idem/other"}))
        self.assertEqual(s3, 200)
        self.assertNotIn("idempotent-replayed", h3)
        self.assertTrue(wait_for(lambda: runs("idem-b1") == 2, 5))

    def test_structured_replay(self):
        ev = structured("idem-s1", source="/idem/st", data={"v": 2})
        s1, _, b1 = post("/ce-keyed", ev, CE_JSON)
        s2, h2, b2 = post("/ce-keyed", ev, CE_JSON)
        self.assertEqual((s1, s2), (200, 200), (b1, b2))
        self.assertEqual(h2.get("idempotent-replayed"), "true")
        self.assertEqual(runs("idem-s1"), 1)

    def test_async_batch_replay(self):
        evs = [structured("idem-a1", source="/idem/a"), structured("idem-a2", source="/idem/a")]
        s1, _, b1 = post("/ce-keyed-async", evs, CE_BATCH)
        s2, _, b2 = post("/ce-keyed-async", evs[1:], CE_BATCH)
        self.assertEqual((s1, s2), (202, 202), (b1, b2))
        self.assertEqual(json.loads(b2)["eventIds"], json.loads(b1)["eventIds"][1:])
        self.assertTrue(wait_for(lambda: runs("idem-a1") == 1 and runs("idem-a2") == 1, 10))
        self.assertTrue(stays_zero(lambda: runs("idem-a2") - 1))


# -- trace propagation --------------------------------------------------------------
def traces(tag, spur=None):
    """(attempt, traceparent, tracestate, trace_id) of each TRACE line of tag."""
    log = (spur or SPUR).settled_log()
    return re.findall(r"\bTRACE\s+%s\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)" % re.escape(tag), log)


class Trace(unittest.TestCase):

    def test_webhook_to_destination_and_record(self):
        status, hdrs, body = post("/hook", {"tag": "tr-hook"}, {
            "Content-Type": "application/json", "traceparent": TP, "tracestate": TS})
        self.assertEqual(status, 202, body)
        eid = json.loads(body)["eventId"]
        self.assertTrue(wait_for(lambda: RECEIVER.for_event(eid), 10), SPUR.log())
        req = RECEIVER.for_event(eid)[0]
        self.assertEqual(req["headers"].get("traceparent"), TP)
        self.assertEqual(req["headers"].get("tracestate"), TS)
        rec = json.loads(req["body"])
        self.assertEqual(rec["requestContext"]["traceContext"],
                         {"traceparent": TP, "tracestate": TS})
        self.assertEqual(rec["responsePayload"]["trace"],
                         {"traceparent": TP, "tracestate": TS, "trace_id": TRACE_ID})
        self.assertEqual(traces("tr-hook"), [("1", TP, TS, TRACE_ID)])

    def test_sync_ctx_trace(self):
        status, _, body = post("/ce", {"tag": "tr-sync"},
                               {"Content-Type": "application/json", "traceparent": TP})
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["trace"], {"traceparent": TP, "trace_id": TRACE_ID})
        # several tracestate headers are one list (sent raw: http.client's
        # request() cannot repeat a header)
        raw = ("POST /ce HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               "traceparent: %s\r\ntracestate: a=1\r\ntracestate: b=2\r\n"
               "Content-Length: 19\r\nConnection: close\r\n\r\n{\"tag\": \"tr-sync2\"}"
               % TP).encode()
        out = SPUR.raw(raw)
        self.assertEqual(spurtest.status_of(out), 200, out)
        body = spurtest.body_of(out)
        if b"\r\n" in body and body[:1] not in (b"{", b"["):     # chunked
            body = body.split(b"\r\n", 1)[1].rsplit(b"\r\n0\r\n", 1)[0]
        self.assertEqual(json.loads(body)["trace"]["tracestate"], "a=1,b=2")

    def test_invalid_traceparent_dropped(self):
        bad = [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",     # zero trace id
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",     # zero parent id
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",     # upper case
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",     # version
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",      # short flags
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",      # short trace id
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xx",  # extra
            "garbage",
        ]
        for i, tp in enumerate(bad):
            status, _, body = post("/ce", {"tag": "tr-bad-%d" % i}, {
                "Content-Type": "application/json", "traceparent": tp, "tracestate": TS})
            self.assertEqual(status, 200, body)
            self.assertNotIn("trace", json.loads(body), tp)

    def test_cloudevent_extension(self):
        ev = structured("tr-ce", traceparent=TP, tracestate="x=1")
        status, _, body = post("/ce", ev, CE_JSON)
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["trace"],
                         {"traceparent": TP, "tracestate": "x=1", "trace_id": TRACE_ID})
        status, _, body = post("/ce", {"v": 1}, binary_headers("tr-ceb", **{"ce-traceparent": TP}))
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["trace"]["traceparent"], TP)

    def test_async_retry_keeps_trace(self):
        status, _, body = post("/flaky", {"tag": "tr-flaky"}, {
            "Content-Type": "application/json", "traceparent": TP, "tracestate": TS})
        self.assertEqual(status, 202, body)
        eid = json.loads(body)["eventId"]
        self.assertTrue(wait_for(lambda: RECEIVER.for_event(eid), 10), SPUR.log())
        attempts = re.findall(r"\bFLAKY\s+(\d+)\s+(\S+)", SPUR.settled_log())
        self.assertIn(("1", TP), attempts)
        self.assertIn(("2", TP), attempts)
        rec = json.loads(RECEIVER.for_event(eid)[0]["body"])
        self.assertEqual(rec["requestContext"]["approximateInvokeCount"], 2)
        self.assertEqual(rec["requestContext"]["traceContext"]["traceparent"], TP)
        self.assertEqual(rec["responsePayload"]["trace"]["traceparent"], TP)


RESTART_CONFIG = """state_dir: {dir}/var
http: { listen: "127.0.0.1:{port}" }
store: { sync: full }
functions:
  flaky:
    runtime: lua
    code: flaky.lua
    async: { max_retries: 2, backoff: { base: 1500ms, factor: 1, cap: 2s }, on_success: [ recv ] }
routes:
  - http: "POST /flaky"
    function: flaky
    mode: async
destinations:
  recv: { type: http, url: "http://127.0.0.1:{rport}/recv" }
"""


class Restart(unittest.TestCase):

    def test_trace_survives_kill9(self):
        spur = spurtest.Spur(RESTART_CONFIG.replace("{rport}", str(RECEIVER.port)), FILES,
                             name="cloudevents-restart", env={"SPUR_ADMIN_TOKEN": ""}).start()
        try:
            status, _, body = spur.request("POST", "/flaky", '{"tag": "restart"}', headers={
                "Content-Type": "application/json", "traceparent": TP, "tracestate": TS})
            self.assertEqual(status, 202, body)
            eid = json.loads(body)["eventId"]
            self.assertTrue(wait_for(lambda: re.search(r"FLAKY\s+1\s", spur.log()), 10),
                            spur.log())
            spur.kill9()
            spur.start()
            self.assertTrue(wait_for(lambda: RECEIVER.for_event(eid), 15), spur.log())
            self.assertIn(("2", TP), re.findall(r"\bFLAKY\s+(\d+)\s+(\S+)", spur.log()))
            rec = json.loads(RECEIVER.for_event(eid)[0]["body"])
            self.assertEqual(rec["requestContext"]["traceContext"],
                             {"traceparent": TP, "tracestate": TS})
        finally:
            self.assertEqual(spur.stop(), 0)


# -- MQTT: user properties in and out --------------------------------------------
def mqtt_built():
    build = os.path.dirname(os.path.dirname(spurtest.SPUR)) if spurtest.SPUR else ""
    return os.path.exists(os.path.join(build, "plugins", "mqtt", "mqtt.so"))


MQTT_CONFIG = """state_dir: {dir}/var
http: { listen: "127.0.0.1:{port}" }
store: { sync: full }
mqtt: { url: %(url)s, client_id: spur-ce, reconnect_min: 50ms, reconnect_max: 500ms }
functions:
  show:
    runtime: lua
    code: show.lua
    async: { on_success: [ "mqtt://traced/{function}" ] }
routes:
  - http: "POST /hook"
    function: show
    mode: async
  - mqtt: "in/traced"
    function: show
    qos: 1
"""


class Mqtt(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not spurtest.Mosquitto.available() or not mqtt_built():
            raise unittest.SkipTest("mosquitto or the mqtt plugin is missing: MQTT trace not run")
        cls.broker = spurtest.Mosquitto(name="cloudevents-mqtt").start()
        cls.spur = spurtest.Spur(MQTT_CONFIG % {"url": cls.broker.url()}, FILES,
                                 name="cloudevents-mqtt", env={"SPUR_ADMIN_TOKEN": ""}).start()
        ok = wait_for(lambda: cls.spur.request("GET", "/readyz")[0] == 200, 10)
        if not ok:
            raise AssertionError("not ready:\n" + cls.spur.log())

    @classmethod
    def tearDownClass(cls):
        rc = cls.spur.stop()
        cls.broker.cleanup()
        assert rc == 0, rc

    def test_webhook_to_mqtt_destination(self):
        sub = self.broker.sub("traced/#", fmt="%t\t%P\t%p")
        try:
            self.assertTrue(sub.subscribed())
            status, _, body = self.spur.request("POST", "/hook", '{"tag": "mq-out"}', headers={
                "Content-Type": "application/json", "traceparent": TP, "tracestate": TS})
            self.assertEqual(status, 202, body)
            eid = json.loads(body)["eventId"]
            self.assertTrue(wait_for(lambda: any(eid in line for line in sub.lines()), 10),
                            self.spur.log())
            line = [x for x in sub.lines() if eid in x][0]
            topic, props, payload = line.split("\t", 2)
            self.assertEqual(topic, "traced/show")
            self.assertIn("traceparent:" + TP, props)
            self.assertIn("tracestate:" + TS, props)
            rec = json.loads(payload)
            self.assertEqual(rec["requestContext"]["traceContext"]["traceparent"], TP)
        finally:
            sub.stop()

    def test_mqtt5_user_property_in(self):
        self.broker.pub("in/traced", '{"tag": "mq-in"}', args=(
            "-D", "publish", "user-property", "traceparent", TP))
        self.assertTrue(wait_for(lambda: traces("mq-in", self.spur), 10), self.spur.log())
        self.assertEqual(traces("mq-in", self.spur)[0][1], TP)


# -- interop with the npm cloudevents package ----------------------------------------
NODE_EMIT = r"""
const { CloudEvent, emitterFor, httpTransport, Mode } = require('cloudevents');
const [url, mode] = process.argv.slice(2);
const ev = (i) => new CloudEvent({
  id: 'npm-' + mode + '-' + i, source: '/npm/cloudevents', type: 'com.example.npm',
  subject: 'subject ' + i, myext: 'ext-' + i, data: { n: i, mode: mode },
});
(async () => {
  let resp;
  if (mode === 'batch') {
    // the package's emitter has no batch mode: its HTTP transport, with
    // events serialised by the package
    resp = await httpTransport(url)({
      headers: { 'content-type': 'application/cloudevents-batch+json; charset=utf-8' },
      body: JSON.stringify([ev(1), ev(2)]),
    }, {});
  } else {
    const emit = emitterFor(httpTransport(url),
                            { mode: mode === 'binary' ? Mode.BINARY : Mode.STRUCTURED });
    resp = await emit(ev(1));
  }
  process.stdout.write(typeof resp.body === 'string' ? resp.body : JSON.stringify(resp.body));
})().catch((e) => { process.stderr.write(String(e)); process.exit(1); });
"""


class Interop(unittest.TestCase):
    """The npm cloudevents package (the reference JavaScript SDK) sending
    to a route."""

    @classmethod
    def setUpClass(cls):
        node, cls.dir = spurtest.npm_package("cloudevents", "cloudevents@8")
        cls.node = node
        with open(os.path.join(cls.dir, "emit.js"), "w") as f:
            f.write(NODE_EMIT)

    def emit(self, mode):
        url = "http://127.0.0.1:%d/ce" % SPUR.port
        p = subprocess.run([self.node, os.path.join(self.dir, "emit.js"), url, mode],
                           cwd=self.dir, capture_output=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def check(self, ev, mode, i):
        self.assertEqual(ev["specversion"], "1.0")
        self.assertEqual(ev["id"], "npm-%s-%d" % (mode, i))
        self.assertEqual(ev["source"], "/npm/cloudevents")
        self.assertEqual(ev["type"], "com.example.npm")
        self.assertEqual(ev["subject"], "subject %d" % i)
        self.assertEqual(ev["myext"], "ext-%d" % i)
        self.assertEqual(ev["data"], {"n": i, "mode": mode})
        self.assertTrue(ev["time"])
        self.assertEqual(runs(ev["id"]), 1)

    def test_binary(self):
        self.check(self.emit("binary")["event"], "binary", 1)

    def test_structured(self):
        self.check(self.emit("structured")["event"], "structured", 1)

    def test_batch(self):
        out = self.emit("batch")
        self.assertEqual(len(out), 2, out)
        for i, r in enumerate(out, 1):
            self.check(r["event"], "batch", i)


if __name__ == "__main__":
    spurtest.run(__name__)
