#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_webhooks.py - signed webhooks in and out against a real `spur serve`.

SPEC 4.2 (http:// destinations) and 4.3 (signature schemes), issue 6
items 3 to 5, and the "Idempotency and signatures" and "Destinations"
rows of shared BAD_INPUTS.md:

* Inbound: routes with `verify:` github, stripe and standard-webhooks.
  Deliveries signed here (hmac/hashlib, independently of spur) get 200;
  a tampered body, a missing header, a wrong secret or a timestamp past
  the 300 s tolerance get 401 and the handler does not run; a route whose
  secret variable is unset answers 500 and says so in the log. A GitHub
  delivery replayed with the same X-GitHub-Delivery on an async route
  with `idempotency: { key: webhook }` is accepted once.
* Outbound: a Python http.server receiver on a free port. A signed
  destination answering 500 then 200 gets the record twice with the same
  webhook-id, fresh timestamps, and Standard Webhooks signatures this
  test recomputes; a 400 makes the record undeliverable without a retry
  (GET /admin/queues/undeliverable/messages); link-local addresses and
  spur's own admin API are refused; CloudEvents structured and binary.
* Interop with the npm `standardwebhooks` package, installed at test time
  under the build directory (skipped with a message when npm or the
  install fails): node signs a delivery that spur accepts, and verifies a
  signature spur made.

Runs are counted from the daemon log: handlers log "RAN <tag>".
Python 3 standard library only (plus node for the interop tests).
"""
import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spurtest  # noqa: E402
from spurtest import wait_event, wait_for, wait_quiet  # noqa: E402

GH_SECRET = "It's a Secret to Everybody"
STRIPE_SECRET = "whsec_stripe_test_secret_used_as_is"
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OUT_SECRET = "whsec_" + base64.b64encode(b"spur outbound test key, 32 bytes").decode()
UNSET_ENV = "SPURTEST_WEBHOOK_SECRET_NEVER_SET"

# -- handlers ------------------------------------------------------------------
ROUTE = """function handle(event, ctx)
  local ok, b = pcall(spur.json.decode, event.body or 'null')
  ctx.log('RAN', ok and type(b) == 'table' and tostring(b.tag) or 'unknown')
  return { ok = true }
end
"""
OK = """function handle(event, ctx)
  ctx.log('RAN', tostring(event.tag))
  return { tag = event.tag }
end
"""
FAIL = """function handle(event, ctx)
  ctx.log('RAN', tostring(event.tag))
  error({ errorType = 'Nope', errorMessage = 'fails on purpose' })
end
"""
FILES = {"route.lua": ROUTE, "ok.lua": OK, "fail.lua": FAIL}

CONFIG = """state_dir: {dir}/var
http: { listen: "127.0.0.1:{port}" }
functions:
  hook:
    runtime: lua
    code: route.lua
  signed:
    runtime: lua
    code: ok.lua
    async: { on_success: [ signed_retry ] }
  nodecheck:
    runtime: lua
    code: ok.lua
    async: { on_success: [ signed_node ] }
  tobad:
    runtime: lua
    code: ok.lua
    async: { on_success: [ "http://127.0.0.1:{rport}/bad" ] }
  linklocal:
    runtime: lua
    code: ok.lua
    async: { on_success: [ "http://169.254.169.254/latest/meta-data/" ] }
  selfadmin:
    runtime: lua
    code: ok.lua
    async: { on_success: [ "http://127.0.0.1:{port}/admin/queues" ] }
  allowed:
    runtime: lua
    code: ok.lua
    async: { on_success: [ allowed_admin ] }
  ce:
    runtime: lua
    code: ok.lua
    async: { on_success: [ ce_structured ] }
  ceb:
    runtime: lua
    code: ok.lua
    async: { on_success: [ ce_binary ] }
  cefail:
    runtime: lua
    code: fail.lua
    async: { max_retries: 0, on_failure: [ ce_structured ] }
routes:
  - http: "POST /gh"
    function: hook
    verify: { scheme: github, secret_env: GH_SECRET }
  - http: "POST /gh-async"
    function: hook
    mode: async
    verify: { scheme: github, secret_env: GH_SECRET }
    idempotency: { key: webhook }
  - http: "POST /stripe"
    function: hook
    verify: { scheme: stripe, secret_env: STRIPE_SECRET }
  - http: "POST /sw"
    function: hook
    verify: { scheme: standard-webhooks, secret_env: SW_SECRET }
  - http: "POST /sw-async"
    function: hook
    mode: async
    verify: { scheme: standard-webhooks, secret_env: SW_SECRET }
  - http: "POST /unset"
    function: hook
    verify: { scheme: github, secret_env: %(unset)s }
destinations:
  signed_retry: { type: http, url: "http://127.0.0.1:{rport}/retry", signing: standard-webhooks,
                  secret_env: OUT_SECRET, connect_timeout: 2s, timeout: 5s }
  signed_node: { type: http, url: "http://127.0.0.1:{rport}/node", signing: standard-webhooks,
                 secret_env: OUT_SECRET }
  allowed_admin: { type: http, url: "http://127.0.0.1:{rport}/admin/hook", allow_private: true }
  ce_structured: { type: http, url: "http://127.0.0.1:{rport}/ce", format: cloudevents }
  ce_binary: { type: http, url: "http://127.0.0.1:{rport}/ceb", format: cloudevents-binary }
""" % {"unset": UNSET_ENV}


# -- signing, independently of spur --------------------------------------------
def github_sig(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def stripe_sig(secret, body, t):
    mac = hmac.new(secret.encode(), b"%d." % t + body, hashlib.sha256).hexdigest()
    return "t=%d,v1=%s" % (t, mac)


def sw_key(secret):
    return base64.b64decode(secret[len("whsec_"):] if secret.startswith("whsec_") else secret)


def sw_sig(secret, msg_id, ts, body):
    mac = hmac.new(sw_key(secret), b"%s.%d." % (msg_id.encode(), ts) + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


SPUR = None
RECEIVER = None


def setUpModule():
    global SPUR, RECEIVER
    RECEIVER = spurtest.Receiver()
    env = {"SPUR_ADMIN_TOKEN": "", "GH_SECRET": GH_SECRET, "STRIPE_SECRET": STRIPE_SECRET,
           "SW_SECRET": SW_SECRET, "OUT_SECRET": OUT_SECRET}
    os.environ.pop(UNSET_ENV, None)
    SPUR = spurtest.Spur(CONFIG.replace("{rport}", str(RECEIVER.port)), FILES,
                         name="webhooks", env=env).start()


def tearDownModule():
    rc = SPUR.stop() if SPUR else 0
    if RECEIVER:
        RECEIVER.stop()
    assert rc == 0, "spur exited with %s" % rc


# -- helpers -------------------------------------------------------------------
def runs(tag):
    """spurtest.runs() of this module's daemon."""
    return spurtest.runs(SPUR, tag)


def post(path, body, headers):
    h = {"Content-Type": "application/json"}
    h.update(headers)
    return SPUR.request("POST", path, body, headers=h)


def send_event(fn, payload):
    """An accepted Event invoke of this module's daemon: the event id."""
    return spurtest.accept_event(SPUR, fn, payload)


def undeliverable(eid):
    """The undeliverable message of event eid, or None."""
    for m in spurtest.messages(SPUR, "undeliverable"):
        if (m.get("attributes") or {}).get("request_id") == eid:
            return m
    return None


def stays_zero(fn):
    """spurtest.stays_zero() of this module's daemon."""
    return spurtest.stays_zero(SPUR, fn)


# -- inbound ---------------------------------------------------------------------
class Inbound(unittest.TestCase):

    def assert_401(self, status, body, tag):
        self.assertEqual(status, 401, body)
        self.assertIn("message", json.loads(body))
        self.assertTrue(stays_zero(lambda: runs(tag)), "the handler ran for %s" % tag)

    def test_github(self):
        body = b'{"tag": "gh-ok", "zen": "Keep it logically awesome."}'
        status, _, resp = post("/gh", body, {"X-Hub-Signature-256": github_sig(GH_SECRET, body),
                                             "X-GitHub-Event": "ping"})
        self.assertEqual(status, 200, resp)
        self.assertEqual(runs("gh-ok"), 1)

        good = github_sig(GH_SECRET, b'{"tag": "gh-tampered"}')
        status, _, resp = post("/gh", b'{"tag": "gh-tampered", "x": 1}', {"X-Hub-Signature-256": good})
        self.assert_401(status, resp, "gh-tampered")
        status, _, resp = post("/gh", b'{"tag": "gh-missing"}', {})
        self.assert_401(status, resp, "gh-missing")
        body = b'{"tag": "gh-wrong"}'
        status, _, resp = post("/gh", body, {"X-Hub-Signature-256": github_sig("wrong", body)})
        self.assert_401(status, resp, "gh-wrong")
        status, _, resp = post("/gh", body, {"X-Hub-Signature-256": "sha256=zz"})
        self.assert_401(status, resp, "gh-wrong")

    def test_stripe(self):
        now = int(time.time())
        body = b'{"id": "evt_1", "object": "event", "tag": "stripe-ok"}'
        status, _, resp = post("/stripe", body, {"Stripe-Signature": stripe_sig(STRIPE_SECRET, body, now)})
        self.assertEqual(status, 200, resp)
        self.assertEqual(runs("stripe-ok"), 1)

        body = b'{"id": "evt_2", "tag": "stripe-old"}'
        status, _, resp = post("/stripe", body,
                               {"Stripe-Signature": stripe_sig(STRIPE_SECRET, body, now - 400)})
        self.assert_401(status, resp, "stripe-old")
        self.assertIn("tolerance", json.loads(resp)["message"])
        sig = stripe_sig(STRIPE_SECRET, b'{"tag": "stripe-tampered"}', now)
        status, _, resp = post("/stripe", b'{"tag": "stripe-tampered", "amount": 1}',
                               {"Stripe-Signature": sig})
        self.assert_401(status, resp, "stripe-tampered")
        status, _, resp = post("/stripe", b'{"tag": "stripe-missing"}', {})
        self.assert_401(status, resp, "stripe-missing")

    def test_standard_webhooks(self):
        now = int(time.time())
        body = b'{"tag": "sw-ok"}'
        hdrs = {"webhook-id": "msg_1", "webhook-timestamp": str(now),
                "webhook-signature": "v1,bm90IGl0 " + sw_sig(SW_SECRET, "msg_1", now, body)}
        status, _, resp = post("/sw", body, hdrs)
        self.assertEqual(status, 200, resp)
        self.assertEqual(runs("sw-ok"), 1)

        body = b'{"tag": "sw-old"}'
        old = now - 301 - 5
        status, _, resp = post("/sw", body, {"webhook-id": "msg_2", "webhook-timestamp": str(old),
                                             "webhook-signature": sw_sig(SW_SECRET, "msg_2", old, body)})
        self.assert_401(status, resp, "sw-old")
        sig = sw_sig(SW_SECRET, "msg_3", now, b'{"tag": "sw-tampered"}')
        status, _, resp = post("/sw", b'{"tag": "sw-tampered", "more": 1}',
                               {"webhook-id": "msg_3", "webhook-timestamp": str(now),
                                "webhook-signature": sig})
        self.assert_401(status, resp, "sw-tampered")
        body = b'{"tag": "sw-missing"}'
        status, _, resp = post("/sw", body, {"webhook-id": "msg_4",
                                             "webhook-signature": sw_sig(SW_SECRET, "msg_4", now, body)})
        self.assert_401(status, resp, "sw-missing")

    def test_async_refused_is_not_stored(self):
        """An async route answers 401 before anything is enqueued."""
        now = int(time.time())
        sig = sw_sig(SW_SECRET, "msg_a", now, b'{"tag": "swa-x"}')
        status, _, resp = post("/sw-async", b'{"tag": "swa-tampered"}',
                               {"webhook-id": "msg_a", "webhook-timestamp": str(now),
                                "webhook-signature": sig})
        self.assert_401(status, resp, "swa-tampered")
        body = b'{"tag": "swa-ok"}'
        status, _, resp = post("/sw-async", body,
                               {"webhook-id": "msg_b", "webhook-timestamp": str(now),
                                "webhook-signature": sw_sig(SW_SECRET, "msg_b", now, body)})
        self.assertEqual(status, 202, resp)
        self.assertTrue(wait_for(lambda: runs("swa-ok") == 1), SPUR.log())

    def test_github_replay_deduplicated(self):
        body = b'{"tag": "gh-dedup", "action": "opened"}'
        hdrs = {"X-Hub-Signature-256": github_sig(GH_SECRET, body),
                "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
                "X-GitHub-Event": "issues"}
        s1, h1, b1 = post("/gh-async", body, hdrs)
        s2, h2, b2 = post("/gh-async", body, hdrs)
        self.assertEqual((s1, s2), (202, 202), (b1, b2))
        self.assertEqual(json.loads(b1)["eventId"], json.loads(b2)["eventId"])
        self.assertEqual(h2.get("idempotent-replayed"), "true", h2)
        self.assertTrue(wait_for(lambda: runs("gh-dedup") >= 1), SPUR.log())
        # the event has ended and spur is quiet: a second one would have run
        self.assertEqual(wait_event(SPUR, json.loads(b1)["eventId"])["attempts"], 1)
        wait_quiet(SPUR)
        self.assertEqual(runs("gh-dedup"), 1)

    def test_secret_unset(self):
        body = b'{"tag": "unset"}'
        status, _, resp = post("/unset", body, {"X-Hub-Signature-256": github_sig("", body)})
        self.assertEqual(status, 500, resp)
        self.assertIn("secret", json.loads(resp)["message"])
        self.assertEqual(runs("unset"), 0)
        log = SPUR.log()
        self.assertIn("%s is not set" % UNSET_ENV, log)       # at start
        self.assertIn("%s is not set or not usable" % UNSET_ENV, log)  # per request


# -- outbound --------------------------------------------------------------------
class Outbound(unittest.TestCase):

    def check_signature(self, req):
        h = req["headers"]
        for k in ("webhook-id", "webhook-timestamp", "webhook-signature"):
            self.assertIn(k, h)
        ts = int(h["webhook-timestamp"])
        self.assertLess(abs(ts - time.time()), 60)
        self.assertTrue(h["webhook-signature"].startswith("v1,"))
        want = sw_sig(OUT_SECRET, h["webhook-id"], ts, req["body"])
        self.assertTrue(hmac.compare_digest(h["webhook-signature"], want),
                        "signature %s, recomputed %s" % (h["webhook-signature"], want))

    def test_signed_retry_same_id(self):
        RECEIVER.plan["/retry"] = [500, 200]
        eid = send_event("signed", {"tag": "out-retry"})
        got = wait_for(lambda: len(RECEIVER.for_event(eid, "/retry")) >= 2, timeout=20)
        reqs = RECEIVER.for_event(eid, "/retry")
        self.assertTrue(got, "%d request(s); log:\n%s" % (len(reqs), SPUR.log()))
        for r in reqs:
            self.assertEqual(r["headers"]["content-type"], "application/json")
            self.check_signature(r)
        self.assertEqual(len({r["headers"]["webhook-id"] for r in reqs}), 1, reqs)
        rec = json.loads(reqs[0]["body"])
        self.assertEqual(rec["requestContext"]["condition"], "Success")
        self.assertEqual(rec["responsePayload"], {"tag": "out-retry"})
        self.assertEqual(reqs[0]["body"], reqs[1]["body"])
        # delivered on the second attempt: once spur is quiet the record has
        # left the outbox; nothing more, nothing undeliverable
        wait_quiet(SPUR)
        self.assertEqual(len(RECEIVER.for_event(eid, "/retry")), 2)
        self.assertIsNone(undeliverable(eid))
        self.assertEqual([spurtest.metric(SPUR, "spur_destination_deliveries_total",
                                          destination="signed_retry", outcome=o)
                          for o in ("retry", "ok", "dropped")], [1, 1, 0])
        # another record gets another id
        eid2 = send_event("signed", {"tag": "out-retry-2"})
        self.assertTrue(wait_for(lambda: RECEIVER.for_event(eid2, "/retry"), timeout=10))
        self.assertNotEqual(RECEIVER.for_event(eid2, "/retry")[0]["headers"]["webhook-id"],
                            reqs[0]["headers"]["webhook-id"])

    def test_400_undeliverable(self):
        RECEIVER.plan["/bad"] = [400]
        eid = send_event("tobad", {"tag": "out-bad"})
        m = wait_for(lambda: undeliverable(eid), timeout=10)
        self.assertTrue(m, SPUR.log())
        self.assertIn("400", m["attributes"].get("error", ""))
        self.assertEqual(len(RECEIVER.for_event(eid, "/bad")), 1)
        self.assertNotIn("webhook-signature", RECEIVER.for_event(eid, "/bad")[0]["headers"])
        status, _, body = SPUR.request("GET", "/admin/queues")
        q = [q for q in json.loads(body) if q["name"] == "undeliverable"][0]
        self.assertGreaterEqual(q["visible"] + q["delayed"], 1)

    def test_link_local_refused(self):
        eid = send_event("linklocal", {"tag": "out-ll"})
        m = wait_for(lambda: undeliverable(eid), timeout=10)
        self.assertTrue(m, SPUR.log())
        self.assertIn("link-local", m["attributes"].get("error", ""))

    def test_own_admin_refused(self):
        eid = send_event("selfadmin", {"tag": "out-admin"})
        m = wait_for(lambda: undeliverable(eid), timeout=10)
        self.assertTrue(m, SPUR.log())
        self.assertIn("admin", m["attributes"].get("error", ""))

    def test_allow_private(self):
        """allow_private: true lifts the refusal (here: a loopback /admin/ path)."""
        eid = send_event("allowed", {"tag": "out-allowed"})
        self.assertTrue(wait_for(lambda: RECEIVER.for_event(eid, "/admin/hook"), timeout=10),
                        SPUR.log())

    def test_cloudevents(self):
        eid = send_event("ce", {"tag": "out-ce"})
        self.assertTrue(wait_for(lambda: RECEIVER.for_event(eid, "/ce"), timeout=10), SPUR.log())
        r = RECEIVER.for_event(eid, "/ce")[0]
        self.assertEqual(r["headers"]["content-type"], "application/cloudevents+json")
        ce = json.loads(r["body"])
        self.assertEqual(ce["specversion"], "1.0")
        self.assertEqual(ce["type"], "spur.invocation.success")
        self.assertEqual(ce["subject"], "ce")
        self.assertTrue(ce["id"] and ce["source"].startswith("arn:"), ce)
        self.assertEqual(ce["data"]["requestContext"]["requestId"], eid)

        eid = send_event("ceb", {"tag": "out-ceb"})
        self.assertTrue(wait_for(lambda: RECEIVER.for_event(eid, "/ceb"), timeout=10), SPUR.log())
        r = RECEIVER.for_event(eid, "/ceb")[0]
        h = r["headers"]
        self.assertEqual(h["content-type"], "application/json")
        self.assertEqual(h["ce-specversion"], "1.0")
        self.assertEqual(h["ce-type"], "spur.invocation.success")
        self.assertTrue(h["ce-id"] and h["ce-source"] and h["ce-time"], h)
        self.assertEqual(json.loads(r["body"])["requestContext"]["requestId"], eid)

        eid = send_event("cefail", {"tag": "out-cefail"})
        self.assertTrue(wait_for(lambda: RECEIVER.for_event(eid, "/ce"), timeout=10), SPUR.log())
        ce = json.loads(RECEIVER.for_event(eid, "/ce")[0]["body"])
        self.assertEqual(ce["type"], "spur.invocation.failure")
        self.assertEqual(ce["data"]["requestContext"]["condition"], "RetriesExhausted")


# -- interop with the npm standardwebhooks package --------------------------------
NODE_SIGN = r"""
const { Webhook } = require('standardwebhooks');
const [secret, id, body] = process.argv.slice(2);
const now = new Date();
const wh = new Webhook(secret);
process.stdout.write(JSON.stringify({
  'webhook-id': id,
  'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
  'webhook-signature': wh.sign(id, now, body),
}));
"""
NODE_VERIFY = r"""
const fs = require('fs');
const { Webhook } = require('standardwebhooks');
const [secret, bodyFile, headersFile] = process.argv.slice(2);
const body = fs.readFileSync(bodyFile, 'utf8');
const headers = JSON.parse(fs.readFileSync(headersFile, 'utf8'));
try {
  const payload = new Webhook(secret).verify(body, headers);
  process.stdout.write('VERIFIED ' + JSON.stringify(payload.requestContext.requestId));
} catch (e) {
  process.stdout.write('REFUSED ' + e.message);
  process.exit(1);
}
"""


class Interop(unittest.TestCase):
    """The npm standardwebhooks package (the reference JavaScript library)
    on both sides of spur."""

    @classmethod
    def setUpClass(cls):
        node, cls.dir = spurtest.npm_package("standardwebhooks", "standardwebhooks@1")
        cls.node = node
        for name, text in (("sign.js", NODE_SIGN), ("verify.js", NODE_VERIFY)):
            with open(os.path.join(cls.dir, name), "w") as f:
                f.write(text)

    def run_node(self, script, *args):
        return subprocess.run([self.node, os.path.join(self.dir, script)] + list(args),
                              cwd=self.dir, capture_output=True, timeout=60,
                              stdin=subprocess.DEVNULL)

    def test_node_signs_spur_accepts(self):
        body = '{"tag": "node-signed", "type": "invoice.paid"}'
        p = self.run_node("sign.js", SW_SECRET, "msg_node_1", body)
        self.assertEqual(p.returncode, 0, p.stderr)
        hdrs = json.loads(p.stdout)
        status, _, resp = post("/sw", body, hdrs)
        self.assertEqual(status, 200, resp)
        self.assertEqual(runs("node-signed"), 1)
        # the same signature over another body is refused
        status, _, resp = post("/sw", body.replace("paid", "void").replace("node-signed", "node-t"),
                               hdrs)
        self.assertEqual(status, 401, resp)
        self.assertTrue(stays_zero(lambda: runs("node-t")))

    def test_node_verifies_spur(self):
        eid = send_event("nodecheck", {"tag": "out-node"})
        self.assertTrue(wait_for(lambda: RECEIVER.for_event(eid, "/node"), timeout=10), SPUR.log())
        r = RECEIVER.for_event(eid, "/node")[0]
        body_file = os.path.join(self.dir, "body-%s.json" % eid)
        hdr_file = os.path.join(self.dir, "headers-%s.json" % eid)
        with open(body_file, "wb") as f:
            f.write(r["body"])
        with open(hdr_file, "w") as f:
            json.dump(r["headers"], f)
        p = self.run_node("verify.js", OUT_SECRET, body_file, hdr_file)
        self.assertEqual(p.returncode, 0, (p.stdout, p.stderr))
        self.assertEqual(p.stdout.decode(), "VERIFIED " + json.dumps(eid))
        # and it refuses the same delivery with one byte changed
        with open(body_file, "wb") as f:
            f.write(r["body"].replace(b"out-node", b"out-nodf"))
        p = self.run_node("verify.js", OUT_SECRET, body_file, hdr_file)
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn(b"REFUSED", p.stdout)
        os.unlink(body_file)
        os.unlink(hdr_file)


if __name__ == "__main__":
    spurtest.run(__name__)
