#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_mqtt.py - the mqtt plugin against a real mosquitto broker.

SPEC 4.4 and the MQTT rows of shared BAD_INPUTS.md, as issue 4 checks
them, with /usr/sbin/mosquitto on a free loopback port (spurtest.Mosquitto)
and the mosquitto_pub / mosquitto_sub / mosquitto_rr clients:

  round trip        QoS 1 sensor readings -> Lua -> records on an alert
                    topic, each exactly once, with the user properties
  persistent        spur stopped, 5 QoS 1 messages published, spur started:
                    all 5 handled (the broker kept them in the session)
  broker restart    broker killed mid-stream: /readyz 503, records wait in
                    the outbox and flow after the broker is back; nothing
                    stored is lost
  request/response  mosquitto_rr -V mqttv5 gets the answer with its
                    correlation data, and a function error as the Lambda
                    error object with spur-error: Unhandled
  $share            two spur nodes in one shared group: every message
                    handled exactly once between them
  bad input         non-JSON and non-UTF-8 payloads on a json route, and an
                    oversized payload: failure records in the DLQ, never
                    redelivered; a far larger one is dropped by the broker
  templates         a topic template rendering '#' or an empty level: that
                    record undeliverable, the other destination unaffected
  credentials       a broker with a password file and a wrong password:
                    clear log line, /readyz 503, retried
  ack window        20 kill -9 under QoS 1 load with a persistent session:
                    messages the broker acknowledged to the publisher that
                    never produced a record are counted and printed
  throughput        QoS 1 in -> Lua -> QoS 1 out, next to the raw broker's
                    QoS 1 publish -> subscribe rate (printed, not asserted)

Python 3 standard library only; skipped without mosquitto.
"""
import json
import os
import random
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spurtest  # noqa: E402
from spurtest import Mosquitto, metric, read_records, records, wait_for, wait_quiet  # noqa: E402

THERMO = """function handle(event, ctx)
  local p = event.payload
  ctx.log('RAN', tostring(type(p) == 'table' and p.n or p))
  if type(p) == 'table' and p.fail then
    error({ errorType = 'Broken', errorMessage = 'sensor ' .. tostring(p.n) .. ' is broken' })
  end
  return { n = type(p) == 'table' and p.n or nil, topic = event.topic,
           corr = event.properties.correlationData, up = event.properties.userProperties }
end
"""


def plugin_built():
    spur = spurtest.SPUR
    build = os.path.dirname(os.path.dirname(spur)) if spur else ""
    return os.path.exists(os.path.join(build, "plugins", "mqtt", "mqtt.so"))


def config(broker, client_id="spur", routes="", extra_fn="", mqtt_extra="", dests=""):
    return """state_dir: var
log: {{ level: info }}
http: {{ listen: 127.0.0.1:{{port}} }}
store: {{ kind: sqlite, sync: full }}
mqtt: {{ url: {url}, client_id: {cid}, reconnect_min: 50ms, reconnect_max: 500ms{mx} }}
queues: {{ dlq: {{}} }}
functions:
  thermo:
    runtime: lua
    code: thermo.lua
    handler: handle
    async: {{ max_retries: 0, on_failure: ["queue://dlq"]{efn} }}
routes:
{routes}
{dests}
""".format(url=broker.url(), cid=client_id, routes=routes, efn=extra_fn,
           mx=(", " + mqtt_extra) if mqtt_extra else "", dests=dests)


def ns_of(path, crashed=False):
    """The payloads' n of the records in a file:// destination. A torn
    line fails the test unless spur was killed while writing (crashed):
    kill -9 can stop a write() partway, and the record is written again."""
    recs = read_records(path)[0] if crashed else records(path)
    return [r["requestPayload"]["payload"]["n"] for r in recs]


def ns_out(sub):
    """The responses' n of the records a mosquitto_sub printed (%t %P %p)."""
    return [json.loads(line.split("\t", 2)[2])["responsePayload"]["n"] for line in sub.lines()]


def event(spur, n):
    """An Event invoke of thermo, as if {"n": n} had come on topic "http"."""
    spurtest.accept_event(spur, "thermo", {"topic": "http", "payload": {"n": n},
                                            "properties": {}})


def ready(spur):
    try:
        return spur.request("GET", "/readyz", timeout=2)[0]
    except OSError:
        return None


def dlq(spur):
    return spurtest.messages(spur, "dlq")


@unittest.skipUnless(Mosquitto.available() and plugin_built(),
                     "mosquitto or the mqtt plugin is not available")
class MqttTest(unittest.TestCase):
    def setUp(self):
        self.broker = Mosquitto().start()
        self.spurs = []
        self.subs = []

    def tearDown(self):
        for s in self.subs:
            s.stop()
        for s in self.spurs:
            if s.alive():
                self.assertEqual(s.stop(), 0, s.log())
        self.broker.cleanup()

    def spur(self, cfg, name="spur", env=None):
        s = spurtest.Spur(cfg, files={"thermo.lua": THERMO}, name=name, env=env)
        self.spurs.append(s)
        return s

    def sub(self, topic, fmt="%t\t%P\t%p"):
        s = self.broker.sub(topic, fmt=fmt)
        self.subs.append(s)
        self.assertTrue(s.subscribed(), "mosquitto_sub did not subscribe")
        return s

    def wait_ready(self, spur, want=200, timeout=10):
        self.assertTrue(wait_for(lambda: ready(spur) == want, timeout),
                        "readyz is not %d; log:\n%s" % (want, spur.log()))

    # -- round trip ------------------------------------------------------------
    def test_round_trip_exactly_once(self):
        spur = self.spur(config(
            self.broker, extra_fn=', on_success: ["mqtt://alerts/{function}/{condition}"]',
            routes='  - { mqtt: "sensors/+/temp", function: thermo, qos: 1, payload: json }'))
        spur.start()
        self.wait_ready(spur)
        sub = self.sub("alerts/#")
        lines = "\n".join(json.dumps({"n": i, "t": 20 + i}) for i in range(30)) + "\n"
        self.broker.pub("sensors/kitchen/temp", args=("-l",), stdin=lines.encode())
        self.assertTrue(wait_for(lambda: len(sub.lines()) >= 30, 15), sub.lines())
        # nothing more: once spur is quiet, every record it made is at the
        # broker; the record of a sentinel message comes out after them all
        wait_quiet(spur)
        self.broker.pub("sensors/kitchen/temp", json.dumps({"n": 30, "t": 50}))
        self.assertTrue(wait_for(lambda: 30 in ns_out(sub), 15), sub.lines())
        self.assertEqual(metric(spur, "spur_mqtt_messages_total", direction="in"), 31,
                         "a message reached spur twice")
        self.assertEqual(metric(spur, "spur_mqtt_dropped_total"), 0)
        got = sub.lines()
        ns = []
        for line in got:
            topic, props, payload = line.split("\t", 2)
            self.assertEqual(topic, "alerts/thermo/Success")
            self.assertIn("function:thermo", props)
            self.assertIn("condition:Success", props)
            rec = json.loads(payload)
            self.assertEqual(rec["requestPayload"]["topic"], "sensors/kitchen/temp")
            ns.append(rec["responsePayload"]["n"])
        self.assertEqual(sorted(ns), list(range(31)), "each record exactly once")

    # -- persistent session ------------------------------------------------------
    def test_persistent_session(self):
        spur = self.spur(config(
            self.broker, extra_fn=', on_success: ["file://ok.jsonl"]',
            routes='  - { mqtt: "sensors/+/temp", function: thermo, qos: 1 }'))
        spur.start()
        self.wait_ready(spur)
        self.assertEqual(spur.stop(keep=True), 0, spur.log())
        for i in range(5):
            self.broker.pub("sensors/hall/temp", json.dumps({"n": i}))
        spur.start()
        ok = os.path.join(spur.dir, "ok.jsonl")
        self.assertTrue(wait_for(lambda: len(ns_of(ok)) >= 5, 10), spur.log())
        self.assertEqual(sorted(ns_of(ok)), list(range(5)))
        self.assertIn("session resumed", spur.log())

    # -- broker restart ----------------------------------------------------------
    def test_broker_killed_and_restarted(self):
        spur = self.spur(config(
            self.broker,
            extra_fn=', on_success: ["file://ok.jsonl", "mqtt://alerts/{function}"]',
            routes='  - { mqtt: "sensors/+/temp", function: thermo, qos: 1 }'))
        spur.start()
        self.wait_ready(spur)
        sub = self.sub("alerts/#")
        for i in range(5):
            self.broker.pub("sensors/a/temp", json.dumps({"n": i}))
        self.assertTrue(wait_for(lambda: len(sub.lines()) >= 5, 10), spur.log())
        sub.stop()
        self.subs.remove(sub)

        mark = len(spur.log())
        self.broker.kill()
        self.wait_ready(spur, 503)
        self.assertTrue(spur.alive())
        # events stored while the broker is away: their records must wait
        for i in range(5, 10):
            event(spur, i)
        ok = os.path.join(spur.dir, "ok.jsonl")
        self.assertTrue(wait_for(lambda: len(ns_of(ok)) >= 10, 10), spur.log())
        # a few reconnects fail meanwhile (spur logs attempts 1, 2, 4, ...),
        # and spur stays not ready and alive
        self.assertTrue(wait_for(lambda: "(attempt 2;" in spur.log()[mark:], 10),
                        "no second failed reconnect:\n" + spur.log()[mark:])
        self.assertEqual(ready(spur), 503)
        self.assertEqual(metric(spur, "spur_mqtt_connected"), 0)
        self.assertGreaterEqual(metric(spur, "spur_queue_depth", queue="outbox"), 5,
                                "the records for the broker did not wait in the outbox")

        self.broker.start()
        sub = self.sub("alerts/#")
        self.wait_ready(spur)
        self.assertTrue(wait_for(lambda: len(sub.lines()) >= 5, 20),
                        "records did not flow after the reconnect:\n" + spur.log())
        # nothing more: once spur is quiet its outbox is empty; the record of
        # a sentinel event comes out through it after all the others
        wait_quiet(spur, 30)
        event(spur, 10)
        self.assertTrue(wait_for(lambda: 10 in ns_out(sub), 10), spur.log())
        self.assertEqual(sorted(ns_out(sub)), list(range(5, 11)))
        self.assertEqual(sorted(ns_of(ok)), list(range(11)), "nothing stored is lost")
        # and the route works again on the new broker (a new session)
        self.broker.pub("sensors/a/temp", json.dumps({"n": 11}))
        self.assertTrue(wait_for(lambda: 11 in ns_of(ok), 10), spur.log())

    # -- request/response ------------------------------------------------------
    def test_request_response(self):
        spur = self.spur(config(
            self.broker,
            routes='  - { mqtt: "rpc/thermo", function: thermo, mode: sync, qos: 1 }'))
        spur.start()
        self.wait_ready(spur)

        def rr(payload, corr):
            out = subprocess.run(
                ["mosquitto_rr", "-h", "127.0.0.1", "-p", str(self.broker.port), "-V", "mqttv5",
                 "-t", "rpc/thermo", "-e", "resp/topic", "-q", "1", "-m", payload, "-W", "10",
                 "-D", "PUBLISH", "correlation-data", corr, "-D", "PUBLISH", "user-property",
                 "who", "test", "-F", "%D\t%P\t%p"],
                capture_output=True, timeout=15)
            self.assertEqual(out.returncode, 0, out.stderr + spur.log().encode())
            corr_out, props, body = out.stdout.decode().rstrip("\n").split("\t", 2)
            return corr_out, props, json.loads(body)

        corr, props, body = rr(json.dumps({"n": 7}), "req-0001")
        self.assertEqual(corr, "req-0001")
        self.assertEqual(body["n"], 7)
        self.assertEqual(body["topic"], "rpc/thermo")
        self.assertEqual(body["up"], {"who": "test"})
        self.assertNotIn("spur-error", props)

        corr, props, body = rr(json.dumps({"n": 8, "fail": True}), "req-0002")
        self.assertEqual(corr, "req-0002")
        self.assertIn("spur-error:Unhandled", props)
        self.assertEqual(body["errorType"], "Broken")
        self.assertEqual(body["errorMessage"], "sensor 8 is broken")

    # -- $share --------------------------------------------------------------------
    def test_shared_subscription_exactly_once(self):
        # and a topic of each node's own: its sentinel
        route = ('  - { mqtt: "sensors/+/temp", function: thermo, qos: 1, share: spur }\n'
                 '  - { mqtt: "sentinel/%s", function: thermo, qos: 1 }')
        a = self.spur(config(self.broker, client_id="node-a", routes=route % "a",
                             extra_fn=', on_success: ["file://ok.jsonl"]'), name="a")
        b = self.spur(config(self.broker, client_id="node-b", routes=route % "b",
                             extra_fn=', on_success: ["file://ok.jsonl"]'), name="b")
        a.start()
        b.start()
        self.wait_ready(a)
        self.wait_ready(b)
        lines = "\n".join(json.dumps({"n": i}) for i in range(60)) + "\n"
        self.broker.pub("sensors/x/temp", args=("-l",), stdin=lines.encode())
        oka, okb = os.path.join(a.dir, "ok.jsonl"), os.path.join(b.dir, "ok.jsonl")
        self.assertTrue(wait_for(lambda: len(ns_of(oka)) + len(ns_of(okb)) >= 60, 15))
        # nothing more: the broker sends a node's sentinel after any copy of
        # the 60 it sent that node; once its record is there and the node is
        # quiet, such a copy would have run
        for node, ok in ((a, oka), (b, okb)):
            self.broker.pub("sentinel/" + node.name, json.dumps({"n": 1000}))
            self.assertTrue(wait_for(lambda: 1000 in ns_of(ok), 10), node.log())
            wait_quiet(node)
        na = [n for n in ns_of(oka) if n < 1000]
        nb = [n for n in ns_of(okb) if n < 1000]
        self.assertEqual(sorted(na + nb), list(range(60)), "every message exactly once")
        self.assertTrue(na and nb, "both nodes took a share (%d, %d)" % (len(na), len(nb)))
        for node, n in ((a, na), (b, nb)):
            self.assertEqual(metric(node, "spur_mqtt_messages_total", direction="in"),
                             len(n) + 1, "node %s received a message twice" % node.name)

    # -- bad input -------------------------------------------------------------
    def test_bad_payloads_go_to_the_dlq_once(self):
        spur = self.spur(config(
            self.broker, mqtt_extra="max_payload: 1KiB",
            extra_fn=', on_success: ["file://ok.jsonl"]',
            routes='  - { mqtt: "sensors/+/temp", function: thermo, qos: 1, payload: json }'))
        spur.start()
        self.wait_ready(spur)
        self.broker.pub("sensors/a/temp", "not json {")
        self.broker.pub("sensors/a/temp", b"\xff\xfe{\"n\":1}")
        self.broker.pub("sensors/a/temp", json.dumps({"n": 1, "pad": "x" * 2000}))  # > 1 KiB
        self.broker.pub("sensors/a/temp", json.dumps({"n": 2, "pad": "x" * 300000}))  # broker drops
        self.broker.pub("sensors/a/temp", json.dumps({"n": 3}))
        ok = os.path.join(spur.dir, "ok.jsonl")
        self.assertTrue(wait_for(lambda: ns_of(ok) == [3], 10), spur.log())
        self.assertTrue(wait_for(lambda: len(dlq(spur)) >= 3, 10), spur.log())
        reasons = sorted(m["body"]["responsePayload"]["errorMessage"] for m in dlq(spur))
        self.assertIn("payload is not JSON", reasons)
        self.assertIn("payload is not UTF-8 (so not JSON)", reasons)
        self.assertTrue(any("over mqtt.max_payload" in r for r in reasons), reasons)
        self.assertTrue(all(m["body"]["requestContext"]["condition"] == "InvalidInput"
                            for m in dlq(spur)))
        # acknowledged: not redelivered, not even after a restart
        self.assertEqual(spur.stop(keep=True), 0)
        spur.start()
        self.wait_ready(spur)
        # the broker sends what the session still holds before a new
        # message: once the sentinel's record is there and spur is quiet, a
        # redelivery would have been received and stored
        self.broker.pub("sensors/a/temp", json.dumps({"n": 4}))
        self.assertTrue(wait_for(lambda: 4 in ns_of(ok), 10), spur.log())
        wait_quiet(spur)
        self.assertEqual(metric(spur, "spur_mqtt_messages_total", direction="in"), 1,
                         "a message was redelivered after the restart")
        self.assertEqual(len(dlq(spur)), 3)
        self.assertEqual(ns_of(ok), [3, 4])
        self.assertNotIn("RAN not json", spur.log())

    # -- topic templates ---------------------------------------------------------
    def test_invalid_rendered_topic_is_undeliverable(self):
        dests = """destinations:
  wild: { type: mqtt, topic: "alerts/{function}/#", qos: 1 }
  empty: { type: mqtt, topic: "alerts//{condition}", qos: 0, retain: false }
  good: { type: mqtt, topic: "alerts/{function}/{condition}", qos: 1 }
"""
        spur = self.spur(config(
            self.broker, extra_fn=', on_success: [wild, empty, good]',
            routes='  - { mqtt: "sensors/+/temp", function: thermo }', dests=dests))
        spur.start()
        self.wait_ready(spur)
        sub = self.sub("alerts/#")
        for i in range(3):
            self.broker.pub("sensors/a/temp", json.dumps({"n": i}))
        self.assertTrue(wait_for(lambda: len(sub.lines()) >= 3, 10), spur.log())
        self.assertTrue(wait_for(lambda: spur.log().count("is undeliverable") >= 6, 10),
                        spur.log())
        # nothing more: once spur is quiet each record is out or given up;
        # a sentinel event's record on the good topic comes out after them
        wait_quiet(spur)
        event(spur, 3)
        self.assertTrue(wait_for(lambda: 3 in ns_out(sub), 10), spur.log())
        wait_quiet(spur)
        self.assertEqual(sorted(ns_out(sub)), [0, 1, 2, 3], sub.lines())
        self.assertTrue(all(line.startswith("alerts/thermo/Success\t") for line in sub.lines()))
        log = spur.log()
        self.assertIn("it contains a wildcard", log)
        self.assertIn("it has an empty level", log)
        self.assertEqual(len(spurtest.messages(spur, "undeliverable")), 8)

    # -- qos: 2 -------------------------------------------------------------------
    def test_qos_2_routes_are_refused_with_why(self):
        """Issue 14: libmosquitto sends PUBREC before spur can store a QoS 2
        message; spur refuses the route rather than promise what it cannot."""
        s = self.spur(config(self.broker, routes='  - { mqtt: "a/+", function: thermo, qos: 2 }'))
        out = subprocess.run([spurtest.SPUR, "check", "-c", s.config_path], cwd=s.dir,
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
        line = next(i + 1 for i, l in enumerate(open(s.config_path)) if "qos: 2" in l)
        self.assertIn("spur.yaml:%d: qos must be between 0 and 1" % line,
                      out.stdout + out.stderr)
        # and `spur plugins` says why
        out = subprocess.run([spurtest.SPUR, "plugins"], capture_output=True, text=True,
                             timeout=30)
        self.assertIn("2 is refused: libmosquitto acknowledges a QoS 2 message", out.stdout)

    # -- credentials ---------------------------------------------------------------
    def test_wrong_credentials(self):
        self.broker.cleanup()
        pwfile = os.path.join(self.broker.dir, "passwd")
        self.broker = Mosquitto(extra="password_file {dir}/passwd\nallow_anonymous false\n")
        pwfile = os.path.join(self.broker.dir, "passwd")
        subprocess.run(["mosquitto_passwd", "-b", "-c", pwfile, "spur", "right"], check=True,
                       capture_output=True)
        self.broker.start()
        cfg = config(self.broker, mqtt_extra="username: spur, password_env: MQTT_PW",
                     routes='  - { mqtt: "sensors/+/temp", function: thermo }')
        spur = self.spur(cfg, env={"MQTT_PW": "wrong"})
        spur.start()
        self.assertTrue(wait_for(lambda: "check mqtt.username" in spur.log(), 10), spur.log())
        self.assertEqual(ready(spur), 503)
        self.assertTrue(wait_for(lambda: self.broker.log().count("not authorised") +
                                 self.broker.log().count("bad username or password") >= 3, 10)
                        or spur.log().count("connection refused") >= 2, spur.log())
        self.assertTrue(spur.alive())
        self.assertEqual(spur.stop(keep=True), 0)
        spur.env = {"MQTT_PW": "right"}
        spur.start()
        self.wait_ready(spur)

    # -- the ack window ----------------------------------------------------------
    def test_ack_window_kill9(self):
        spur = self.spur(config(
            self.broker, client_id="crashy", extra_fn=', on_success: ["file://ok.jsonl"]',
            routes='  - { mqtt: "load/+", function: thermo, qos: 1 }'))
        spur.start()
        self.wait_ready(spur)
        pub = subprocess.Popen(
            ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.broker.port), "-V", "mqttv5",
             "-q", "1", "-t", "load/1", "-l"], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        sent = []
        stop = threading.Event()

        def publisher():
            n = 0
            while not stop.is_set():
                batch = []
                for _ in range(20):
                    batch.append(json.dumps({"n": n}))
                    n += 1
                pub.stdin.write(("\n".join(batch) + "\n").encode())
                pub.stdin.flush()
                sent.extend(range(n - 20, n))
                time.sleep(0.02)    # about 1,000 messages a second
        t = threading.Thread(target=publisher)
        t.start()
        rnd = random.Random(4)
        for _ in range(20):
            time.sleep(rnd.uniform(0.1, 0.4))
            spur.kill9()
            spur.start()
        stop.set()
        t.join()
        pub.stdin.close()
        self.assertEqual(pub.wait(30), 0, pub.stderr.read())  # every message PUBACKed by the broker
        ok = os.path.join(spur.dir, "ok.jsonl")
        want = set(sent)

        def dead_lettered():
            # max_retries: 0, so a run the kill -9 cut short is a failed
            # attempt (issue 14): its record is a Runtime.ExitError in the dlq
            recs = [m["body"] for m in spurtest.messages(spur, "dlq")]
            for r in recs:
                self.assertEqual(r["responsePayload"]["errorType"], "Runtime.ExitError", r)
            return {r["requestPayload"]["payload"]["n"] for r in recs}
        wait_for(lambda: want <= set(ns_of(ok, crashed=True)) | dead_lettered(), 40, 0.2)
        got = ns_of(ok, crashed=True)
        dlq = dead_lettered()
        torn = read_records(ok)[1]
        lost = sorted(want - set(got) - dlq)
        dups = len(got) - len(set(got))
        print("\nack window: %d messages acknowledged to the publisher over 20 kill -9; "
              "%d never produced a record; %d duplicate records (at least once); "
              "%d dead-lettered as cut short by a kill (Runtime.ExitError); "
              "%d torn lines" % (len(want), len(lost), dups, len(dlq), torn), flush=True)
        self.assertLessEqual(len(lost), 0, "lost: %s" % lost[:20])
        self.assertLess(len(dlq), len(want) // 10, "most runs are not cut short")

    # -- throughput --------------------------------------------------------------
    def test_throughput(self):
        n = 3000
        lines = ("\n".join(json.dumps({"n": i, "t": 21.5, "pad": "x" * 40})
                           for i in range(n)) + "\n").encode()
        raw = self.broker.sub("raw/t", args=("-C", str(n)), fmt="%p")
        self.subs.append(raw)
        self.assertTrue(raw.subscribed())
        t0 = time.monotonic()
        self.broker.pub("raw/t", args=("-l",), stdin=lines)
        raw.proc.wait(60)
        raw_rate = n / (time.monotonic() - t0)

        spur = self.spur(config(
            self.broker, extra_fn=', on_success: ["mqtt://out/{function}"]',
            routes='  - { mqtt: "in/+", function: thermo, qos: 1 }'))
        spur.start()
        self.wait_ready(spur)
        out = self.broker.sub("out/#", args=("-C", str(n)), fmt="%t")
        self.subs.append(out)
        self.assertTrue(out.subscribed())
        t0 = time.monotonic()
        self.broker.pub("in/1", args=("-l",), stdin=lines)
        out.proc.wait(120)
        rate = n / (time.monotonic() - t0)
        print("\nthroughput (%d QoS 1 messages of %d bytes): raw broker pub->sub %.0f msg/s; "
              "spur in->Lua->out %.0f msg/s = %.2fx raw (goal 0.4x)"
              % (n, len(lines) // n, raw_rate, rate, rate / raw_rate), flush=True)
        self.assertEqual(len(out.lines()), n)


if __name__ == "__main__":
    spurtest.run(__name__)
