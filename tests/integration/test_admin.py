#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_admin.py - the admin API (/admin/) and its CLI against a real
`spur serve`.

SPEC 4.1 (spur queue ls|peek|replay|purge, spur event, exit codes,
$SPUR_ADMIN_TOKEN), 4.2 admin.token_env, 4.3 /admin/, and the admin row
of shared BAD_INPUTS.md (no token, wrong token, token in the query string
-> 401, refusals logged). Two daemons with a sqlite store in their temp
directory: `open` without a token (loopback clients only) where an
always-failing function's records land in the dlq and are replayed into
a succeeding one, and `locked` with SPUR_ADMIN_TOKEN in its environment.
Python 3 standard library only.
"""
import json
import os
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spurtest  # noqa: E402
from spurtest import EVENT, INVOKE, depth, records, wait_for  # noqa: E402

TOKEN = "admin-test-token-6f1c"

HANDLERS = {
    "fail.lua": "function handle(event, ctx)\n"
                "  error({ errorType = 'BoomError', errorMessage = 'boom' })\nend\n",
    "ok.lua": "function handle(event, ctx)\n  return { replayed = event }\nend\n",
    "done.lua": "function handle(event, ctx)\n  return {}\nend\n",
}


def own_address():
    """A non-loopback IPv4 address of this host, or None."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))	# no packet is sent
            addr = s.getsockname()[0]
        if addr.startswith("127.") or addr == "0.0.0.0":
            return None
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((addr, 0))
        return addr
    except OSError:
        return None


OWN = own_address()

CONFIG = """state_dir: {dir}/var
log: { level: info }
http:
  listen: [ "127.0.0.1:{port}"%s ]
queues:
  dlq: {}
functions:
  fail:
    runtime: lua
    code: fail.lua
    handler: handle
    async: { max_retries: 0, on_failure: [ "queue://dlq" ] }
  ok:
    runtime: lua
    code: ok.lua
    handler: handle
    async: { on_success: [ "file://ok.jsonl" ] }
  loop:
    runtime: lua
    code: done.lua
    handler: handle
    async: { on_success: [ "function://loop" ] }
""" % (', "%s:{port}"' % OWN if OWN else "")


def cli(spur, *args, token=None, endpoint=None):
    """Run `spur ARGS` against a daemon: (exit code, stdout, stderr)."""
    env = dict(os.environ)
    env.pop("SPUR_ADMIN_TOKEN", None)
    if token:
        env["SPUR_ADMIN_TOKEN"] = token
    env["SPUR_ENDPOINT"] = endpoint or "http://127.0.0.1:%d" % spur.port
    p = subprocess.run([spurtest.SPUR] + list(args), env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def get_json(spur, path, headers=None):
    status, _, body = spur.request("GET", path, headers=headers)
    return status, json.loads(body) if body else None


def dlq_count(spur):
    return depth(spur, "dlq")


class Queues(unittest.TestCase):
    """One failing async event, followed from the dlq to a replay. The
    tests run in name order and share the daemon."""

    @classmethod
    def setUpClass(cls):
        cls.spur = spurtest.Spur(CONFIG, HANDLERS, name="admin",
                                 env={"SPUR_ADMIN_TOKEN": ""}).start()
        status, hdrs, _ = cls.spur.request("POST", INVOKE % "fail", '{"order": 7}',
                                           headers=EVENT)
        assert status == 202, status
        cls.event_id = hdrs["x-amzn-requestid"]
        if not wait_for(lambda: dlq_count(cls.spur) == 1, 15):
            raise AssertionError("the record never reached the dlq; log:\n" + cls.spur.log())

    @classmethod
    def tearDownClass(cls):
        assert cls.spur.stop() == 0

    def test_1_ls(self):
        rc, out, err = cli(self.spur, "queue", "ls")
        self.assertEqual(rc, 0, err)
        rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:]}
        self.assertEqual(rows["dlq"], ["1", "0", "-"])   # visible, in flight, no dead letter
        for q in ("async", "outbox", "undeliverable"):
            self.assertIn(q, rows)
        status, queues = get_json(self.spur, "/admin/queues")
        self.assertEqual(status, 200)
        self.assertIn({"name": "dlq", "visible": 1, "delayed": 0, "inFlight": 0}, queues)

    def test_2_peek(self):
        rc, out, err = cli(self.spur, "queue", "peek", "dlq", "-n", "5")
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertEqual(len(lines), 1)
        m = json.loads(lines[0])
        rec = m["body"]
        self.assertEqual(rec["requestContext"]["condition"], "RetriesExhausted")
        self.assertEqual(rec["requestContext"]["requestId"], self.event_id)
        self.assertEqual(rec["requestPayload"], {"order": 7})
        self.assertEqual(m["attributes"]["condition"], "RetriesExhausted")
        self.assertIn("receiveCount", m)
        # peeking removes nothing
        self.assertEqual(dlq_count(self.spur), 1)
        status, msgs = get_json(self.spur, "/admin/queues/dlq/messages?n=1&offset=1")
        self.assertEqual((status, msgs), (200, []))
        status, _ = get_json(self.spur, "/admin/queues/dlq/messages?n=zero")
        self.assertEqual(status, 400)

    def test_3_event(self):
        rc, out, err = cli(self.spur, "event", self.event_id)
        self.assertEqual(rc, 0, err)
        ev = json.loads(out)
        self.assertEqual(ev["id"], self.event_id)
        self.assertEqual(ev["state"], "done")
        self.assertEqual(ev["condition"], "RetriesExhausted")
        self.assertEqual(ev["attempts"], 1)
        self.assertEqual(ev["lastError"], "BoomError: boom")
        self.assertEqual(ev["record"]["requestContext"]["requestId"], self.event_id)
        rc, _, err = cli(self.spur, "event", "00000000-0000-4000-8000-000000000000")
        self.assertEqual(rc, 2, err)

    def test_4_replay(self):
        # without --to only undeliverable records can go anywhere
        rc, _, err = cli(self.spur, "queue", "replay", "dlq")
        self.assertEqual(rc, 2)
        self.assertIn("to", err)
        rc, _, err = cli(self.spur, "queue", "replay", "dlq", "--to", "nosuchfn")
        self.assertEqual(rc, 2)
        self.assertEqual(dlq_count(self.spur), 1)
        rc, out, err = cli(self.spur, "queue", "replay", "dlq", "--to", "ok")
        self.assertEqual(rc, 0, err)
        self.assertIn("replayed 1", out)
        self.assertEqual(dlq_count(self.spur), 0)
        path = os.path.join(self.spur.dir, "ok.jsonl")
        got = wait_for(lambda: records(path), 15)
        self.assertTrue(got, "the ok function's record never arrived; log:\n" + self.spur.log())
        rec = got[0]
        self.assertEqual(rec["requestContext"]["condition"], "Success")
        # the replayed event's payload is the dlq record
        self.assertEqual(rec["requestPayload"]["requestContext"]["requestId"], self.event_id)
        self.assertEqual(rec["responsePayload"]["replayed"]["requestPayload"], {"order": 7})
        new_id = rec["requestContext"]["requestId"]
        rc, out, err = cli(self.spur, "event", new_id)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["condition"], "Success")
        # an empty queue replays nothing
        status, _, body = self.spur.request("POST", "/admin/queues/dlq/replay", '{"to": "ok"}')
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["replayed"], 0)

    def test_5_purge(self):
        for n in range(2):
            status, _, _ = self.spur.request("POST", INVOKE % "fail", '{"n": %d}' % n,
                                             headers=EVENT)
            self.assertEqual(status, 202)
        self.assertTrue(wait_for(lambda: dlq_count(self.spur) == 2, 15), self.spur.log())
        rc, out, err = cli(self.spur, "queue", "purge", "dlq")
        self.assertEqual(rc, 0, err)
        self.assertIn("purged 2", out)
        self.assertEqual(dlq_count(self.spur), 0)
        # the live queues are spur's own
        status, _, _ = self.spur.request("DELETE", "/admin/queues/async")
        self.assertEqual(status, 409)

    def test_6_errors(self):
        rc, _, err = cli(self.spur, "queue", "peek", "nosuchqueue")
        self.assertEqual(rc, 2)
        self.assertIn("404", err)
        for method, path in (("GET", "/admin/queues/nosuchqueue/messages"),
                             ("DELETE", "/admin/queues/nosuchqueue"),
                             ("GET", "/admin/nothing"),
                             ("GET", "/admin/events/not-an-id")):
            status, _, body = self.spur.request(method, path)
            self.assertEqual(status, 404, path)
            self.assertIn("message", json.loads(body))
        status, _, _ = self.spur.request("PUT", "/admin/queues")
        self.assertEqual(status, 405)
        status, _, _ = self.spur.request("POST", "/admin/queues/dlq/replay", "not json")
        self.assertEqual(status, 400)

    def test_7_cli_exit_codes(self):
        for args in (["queue"], ["queue", "frob"], ["queue", "peek"], ["queue", "ls", "x"],
                     ["queue", "peek", "dlq", "-n", "0"], ["event"], ["event", "a", "b"]):
            rc, _, _ = cli(self.spur, *args)
            self.assertEqual(rc, 1, args)
        for args in (["queue", "--help"], ["queue", "peek", "--help"], ["event", "--help"]):
            rc, out, _ = cli(self.spur, *args)
            self.assertEqual(rc, 0, args)
            self.assertIn("usage:", out)
        nobody = "http://127.0.0.1:%d" % spurtest.free_port()
        for args in (["queue", "ls"], ["event", self.event_id]):
            rc, _, err = cli(self.spur, *args, endpoint=nobody)
            self.assertEqual(rc, 3, err)

    def test_9_undeliverable(self):
        """A function:// cycle ends in "undeliverable"; a replay without
        --to hands the record back to the outbox, which gives up again."""
        status, _, _ = self.spur.request("POST", INVOKE % "loop", "{}", headers=EVENT)
        self.assertEqual(status, 202)
        self.assertTrue(wait_for(lambda: depth(self.spur, "undeliverable") == 1, 15),
                        self.spur.log())
        self.assertEqual(self.spur.log().count("is undeliverable"), 1)
        rc, out, err = cli(self.spur, "queue", "replay", "undeliverable")
        self.assertEqual(rc, 0, err)
        self.assertIn("replayed 1", out)
        self.assertTrue(wait_for(lambda: self.spur.log().count("is undeliverable") == 2, 15),
                        self.spur.log())
        self.assertTrue(wait_for(lambda: depth(self.spur, "undeliverable") == 1, 15))
        rc, out, err = cli(self.spur, "queue", "peek", "undeliverable")
        self.assertEqual(json.loads(out)["attributes"]["destination"], "function://loop")

    @unittest.skipUnless(OWN, "no non-loopback address to connect from")
    def test_8_remote_without_token(self):
        """No token configured: a peer that is not loopback is refused."""
        import http.client
        c = http.client.HTTPConnection(OWN, self.spur.port, timeout=10)
        try:
            c.request("GET", "/admin/queues")
            r = c.getresponse()
            self.assertEqual(r.status, 403)
            self.assertIn("message", json.loads(r.read()))
        finally:
            c.close()
        self.assertIn("refused (403)", self.spur.settled_log())


class Token(unittest.TestCase):
    """SPUR_ADMIN_TOKEN set in the daemon's environment."""

    @classmethod
    def setUpClass(cls):
        cls.spur = spurtest.Spur(CONFIG, HANDLERS, name="admin-token",
                                 env={"SPUR_ADMIN_TOKEN": TOKEN}).start()

    @classmethod
    def tearDownClass(cls):
        assert cls.spur.stop() == 0

    def status(self, path, headers=None):
        status, hdrs, body = self.spur.request("GET", path, headers=headers)
        if status != 200:
            self.assertIn("message", json.loads(body))
        return status

    def test_http(self):
        bearer = {"Authorization": "Bearer " + TOKEN}
        self.assertEqual(self.status("/admin/queues"), 401)
        self.assertEqual(self.status("/admin/queues", {"Authorization": "Bearer wrong"}), 401)
        self.assertEqual(self.status("/admin/queues",
                                     {"Authorization": "Bearer " + TOKEN[:-1]}), 401)
        self.assertEqual(self.status("/admin/queues", {"Authorization": "Basic " + TOKEN}), 401)
        self.assertEqual(self.status("/admin/queues?token=" + TOKEN), 401)
        self.assertEqual(self.status("/admin/queues?access_token=" + TOKEN), 401)
        # right in the header, but in the query too: still refused
        self.assertEqual(self.status("/admin/queues?x=" + TOKEN, bearer), 401)
        self.assertEqual(self.status("/admin/queues", bearer), 200)
        self.assertEqual(self.status("/admin/events/00000000-0000-4000-8000-000000000000",
                                     bearer), 404)
        log = self.spur.log()
        self.assertGreaterEqual(log.count("admin: GET /admin/queues"), 7)
        self.assertNotIn(TOKEN, log)	# refusals never log the token

    def test_cli(self):
        rc, out, err = cli(self.spur, "queue", "ls")
        self.assertEqual(rc, 2)
        self.assertIn("401", err)
        rc, out, err = cli(self.spur, "queue", "ls", token="wrong")
        self.assertEqual(rc, 2)
        rc, out, err = cli(self.spur, "queue", "ls", token=TOKEN)
        self.assertEqual(rc, 0, err)
        self.assertIn("dlq", out)


if __name__ == "__main__":
    spurtest.run(__name__)
