#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_destinations.py - named destinations' settings, checked at load.

Issue 12, item 3: every destination plugin (mqtt, zmq, webhook for
`type: http`, file) declares the keys of its named destinations as an
option table, which the host walks when the config is loaded. So, with
the plugins of this build and a real `spur check` / `spur serve`:

  * a misspelt key in a `destinations:` entry of each type is
    "spur.yaml:LINE: unknown key 'x' (did you mean 'y'?)", exit status 1,
    from `spur check` and from `spur serve`, which does not start;
  * a value of the wrong type or out of range (qos: 3, send_timeout: 5m,
    format: xml, ...) is a FILE:LINE error naming the key;
  * `type: nosuchplugin` is a FILE:LINE error naming the type;
  * the documented settings of each type pass `spur check`;
  * a named file destination delivers (relative to the config file), and
    what the tables cannot say (a file destination without a path, an
    http one with secret_env but no signing) is reported, with the
    destination's name, when the destination opens at its first record.

The other named destinations deliver in test_mqtt.py, test_zmq.py and
test_webhooks.py. A type whose plugin is not in this build is skipped.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spurtest  # noqa: E402
from spurtest import SPUR, free_port, wait_for  # noqa: E402

BUILD = os.path.dirname(os.path.dirname(os.path.abspath(SPUR or ".")))
PLUGIN = {"mqtt": "mqtt", "zmq": "zmq", "http": "webhook", "file": "file"}
INVOKE = "/2015-03-31/functions/%s/invocations"
EVENT = {"X-Amz-Invocation-Type": "Event", "Content-Type": "application/json"}
HANDLER = "function handle(event, ctx) return { ok = true } end\n"

HEAD = """functions:
  f: { runtime: lua, code: f.lua, async: { on_success: [ d ] } }
destinations:
"""


def built(kind):
    return os.path.exists(os.path.join(BUILD, "plugins", PLUGIN[kind], PLUGIN[kind] + ".so"))


def line_of(text, needle):
    """The 1-based number of the first line of text containing needle."""
    for n, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return n
    raise AssertionError("%r not in the config" % needle)


class Load(unittest.TestCase):
    """`spur check` and `spur serve` on configs that must not load."""

    def write(self, config):
        d = tempfile.mkdtemp(prefix="spurtest-dest-")
        self.addCleanup(shutil.rmtree, d, ignore_errors=True)
        with open(os.path.join(d, "f.lua"), "w") as f:
            f.write(HANDLER)
        path = os.path.join(d, "spur.yaml")
        with open(path, "w") as f:
            f.write(config.replace("{port}", str(free_port())))
        return path

    def check(self, config):
        path = self.write(config)
        p = subprocess.run([SPUR, "check", "-c", path], capture_output=True, text=True,
                           timeout=60)
        return p, path

    def refused(self, kind, entry, needle, message):
        """`spur check` on HEAD + entry fails with PATH:LINE: message, the
        line being the one that contains needle."""
        if not built(kind):
            self.skipTest("the %s plugin is not in this build" % PLUGIN[kind])
        config = HEAD + entry
        p, path = self.check(config)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("%s:%d: %s" % (path, line_of(config, needle), message), p.stderr)
        return p

    # -- (a) a misspelt key, with its line and a hint ----------------------
    def test_misspelt_key_mqtt(self):
        self.refused("mqtt", "  d:\n    type: mqtt\n    topik: \"alerts/{function}\"\n    qos: 1\n",
                     "topik", "unknown key 'topik' (did you mean 'topic'?)")

    def test_misspelt_key_zmq(self):
        self.refused("zmq", "  d:\n    type: zmq\n    socket: push\n"
                     "    endpiont: \"tcp://127.0.0.1:5557\"\n",
                     "endpiont", "unknown key 'endpiont' (did you mean 'endpoint'?)")

    def test_misspelt_key_http(self):
        self.refused("http", "  d: { type: http, url: \"https://example.org/hook\" }\n"
                     "  e:\n    type: http\n    url: \"https://example.org/hook\"\n"
                     "    signing: standard-webhooks\n    secret_envv: HOOK_SECRET\n",
                     "secret_envv", "unknown key 'secret_envv' (did you mean 'secret_env'?)")

    def test_misspelt_key_file(self):
        self.refused("file", "  d: { type: file, pth: out.jsonl }\n",
                     "pth", "unknown key 'pth' (did you mean 'path'?)")

    def test_every_error_reported(self):
        """One run reports each bad key of an entry on its own line."""
        p = self.refused("zmq", "  d:\n    type: zmq\n    sockett: pub\n    endpoint: \"tcp://127.0.0.1:1\"\n"
                         "    topick: \"{function}\"\n", "sockett",
                         "unknown key 'sockett' (did you mean 'socket'?)")
        self.assertIn("unknown key 'topick' (did you mean 'topic'?)", p.stderr)

    # -- (b) a wrong type or a value out of range -------------------------
    def test_mqtt_values(self):
        self.refused("mqtt", "  d: { type: mqtt, topic: t, qos: 3 }\n", "qos: 3",
                     "qos must be between 0 and 2")
        self.refused("mqtt", "  d: { type: mqtt, topic: t, qos: \"1\" }\n", "qos:",
                     "qos: expected an integer, got the quoted string \"1\"")
        self.refused("mqtt", "  d: { type: mqtt, topic: t, retain: yes }\n", "retain",
                     "retain: expected true or false, got 'yes'")

    def test_zmq_values(self):
        self.refused("zmq", "  d:\n    type: zmq\n    endpoint: \"tcp://127.0.0.1:1\"\n"
                     "    send_timeout: 5m\n", "send_timeout",
                     "send_timeout must be between 1ms and 60s")
        self.refused("zmq", "  d: { type: zmq, socket: pull, endpoint: \"tcp://127.0.0.1:1\" }\n",
                     "pull", "socket: expected one of pub|push, got 'pull'")
        self.refused("zmq", "  d: { type: zmq, endpoint: \"tcp://127.0.0.1:1\", bind: 1 }\n",
                     "bind", "bind: expected one of auto|true|false, got '1'")
        self.refused("zmq", "  d: { type: zmq, endpoint: \"tcp://127.0.0.1:1\", hwm: 0 }\n",
                     "hwm", "hwm must be between 1 and 1000000")
        self.refused("zmq", "  d: { type: zmq, endpoint: \"tcp://127.0.0.1:1\", linger: 2 }\n",
                     "linger", "linger: expected a duration like 3s, got '2'")

    def test_http_values(self):
        self.refused("http", "  d: { type: http, url: \"https://example.org/\", format: xml }\n",
                     "xml", "format: expected one of json|cloudevents|cloudevents-binary, got 'xml'")
        self.refused("http", "  d: { type: http, url: \"https://example.org/\", signing: hmac }\n",
                     "hmac", "signing: expected one of none|standard-webhooks, got 'hmac'")
        self.refused("http", "  d: { type: http, url: \"https://example.org/\", timeout: 20m }\n",
                     "timeout", "timeout must be between 1ms and 900s")
        self.refused("http", "  d: { type: http, url: \"https://example.org/\", connect_timeout: 0 }\n",
                     "connect_timeout", "connect_timeout must be between 1ms and 300s")
        self.refused("http", "  d: { type: http, url: \"https://example.org/\", allow_private: \"true\" }\n",
                     "allow_private", "allow_private: expected true or false, got the quoted string")

    def test_file_values(self):
        self.refused("file", "  d:\n    type: file\n    path: [ a.jsonl, b.jsonl ]\n", "path",
                     "path: expected a string, got a list")

    def test_unknown_type(self):
        config = HEAD + "  d: { type: nosuchplugin, topic: x }\n"
        p, path = self.check(config)
        self.assertEqual(p.returncode, 1)
        self.assertIn("%s:%d: destination 'd': no destination plugin serves type 'nosuchplugin'"
                      % (path, line_of(config, "nosuchplugin")), p.stderr)

    # -- (d) spur serve refuses to start with the same message -------------
    def test_serve_refuses(self):
        for kind, entry, message in [
                ("mqtt", "  d: { type: mqtt, topik: t }\n", "unknown key 'topik' (did you mean 'topic'?)"),
                ("zmq", "  d: { type: zmq, endpont: \"tcp://127.0.0.1:1\" }\n",
                 "unknown key 'endpont' (did you mean 'endpoint'?)"),
                ("http", "  d: { type: http, urll: \"https://example.org/\" }\n",
                 "unknown key 'urll' (did you mean 'url'?)"),
                ("file", "  d: { type: file, paht: out.jsonl }\n", "unknown key 'paht' (did you mean 'path'?)"),
                ("file", "  d: { type: nosuchplugin }\n",
                 "destination 'd': no destination plugin serves type 'nosuchplugin'")]:
            if not built(kind):
                continue
            with self.subTest(kind=kind, message=message):
                config = "state_dir: var\nhttp: { listen: 127.0.0.1:{port} }\n" + HEAD + entry
                path = self.write(config)
                try:
                    p = subprocess.run([SPUR, "serve", "-c", path], capture_output=True,
                                       text=True, timeout=30, cwd=os.path.dirname(path))
                except subprocess.TimeoutExpired:
                    self.fail("spur serve started with %r" % entry)
                self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
                self.assertIn("%s:%d: " % (path, line_of(config, "  d: ")) + message,
                              p.stdout + p.stderr)

    # -- what the documentation shows loads -----------------------------------
    def test_documented_settings_load(self):
        entries = {
            "mqtt": "  m: { type: mqtt, topic: \"alerts/{function}/{condition}\", qos: 2, retain: true }\n"
                    "  m0: { type: mqtt, topic: \"a/{function}\" }\n",
            "zmq": "  z: { type: zmq, socket: pub, endpoint: \"tcp://127.0.0.1:5562\", "
                   "topic: \"spur.{function}.{condition}\", bind: auto, hwm: 100, linger: 0 }\n"
                   "  z1: { type: zmq, socket: push, endpoint: \"tcp://127.0.0.1:5563\", bind: true, "
                   "send_timeout: 2s, linger: 60s }\n"
                   "  z2: { type: zmq, endpoint: \"tcp://127.0.0.1:5564\" }\n",
            "http": "  h:\n    type: http\n    url: https://example.org/hook\n"
                    "    signing: standard-webhooks\n    secret_env: HOOK_SECRET\n"
                    "    format: cloudevents-binary\n    connect_timeout: 5s\n    timeout: 15s\n"
                    "    allow_private: false\n",
            "file": "  o: { type: file, path: out.jsonl }\n",
        }
        config = "functions:\n  f: { runtime: lua, code: f.lua }\ndestinations:\n"
        config += "".join(e for k, e in entries.items() if built(k))
        p, _ = self.check(config)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


CONFIG = """state_dir: {dir}/var
http:
  listen: 127.0.0.1:{port}
destinations:
  out: { type: file, path: sub/out.jsonl }
  nopath: { type: file }
  unsigned: { type: http, url: "http://127.0.0.1:9/hook", secret_env: HOOK_SECRET }
functions:
  named:
    runtime: lua
    code: f.lua
    async: { on_success: [ out ] }
  nopath:
    runtime: lua
    code: f.lua
    async: { on_success: [ nopath ] }
  unsigned:
    runtime: lua
    code: f.lua
    async: { on_success: [ unsigned ] }
"""


class Deliver(unittest.TestCase):
    """(c) A named file destination delivers; open-time checks say why."""

    @classmethod
    def setUpClass(cls):
        if not built("file") or not built("http"):
            raise unittest.SkipTest("the file or webhook plugin is not in this build")
        os.environ.pop("HOOK_SECRET", None)
        env = {"SPUR_ADMIN_TOKEN": ""} if os.environ.get("SPUR_ADMIN_TOKEN") else None
        cls.spur = spurtest.Spur(CONFIG, {"f.lua": HANDLER, "sub/.keep": ""}, name="dest",
                                 env=env).start()

    @classmethod
    def tearDownClass(cls):
        assert cls.spur.stop() == 0, cls.spur.log()

    def invoke(self, fn, body):
        status, _, _ = self.spur.request("POST", INVOKE % fn, json.dumps(body), EVENT)
        self.assertEqual(status, 202)

    def test_named_file_delivers(self):
        out = os.path.join(self.spur.dir, "sub", "out.jsonl")
        self.invoke("named", {"n": 1})

        def records():
            try:
                with open(out) as f:
                    return [json.loads(line) for line in f if line.strip()]
            except FileNotFoundError:
                return []
        recs = wait_for(records)
        self.assertEqual(len(recs), 1, self.spur.log())
        self.assertEqual(recs[0]["requestContext"]["condition"], "Success")
        self.assertEqual(recs[0]["requestPayload"], {"n": 1})

    def test_open_time_checks_named(self):
        self.invoke("nopath", {"n": 2})
        self.invoke("unsigned", {"n": 3})
        want = ["for nopath: a file destination needs a path",
                "for unsigned: http destination: secret_env is set but signing is none"]
        log = wait_for(lambda: all(w in self.spur.log() for w in want) and self.spur.log())
        for w in want:
            self.assertIn(w, log or self.spur.log())


class TornLine(unittest.TestCase):
    """A file that ends inside a line (spur killed mid-write, or a write
    that failed part way) gets that line ended before the next record, so
    the record written after it is a line of its own."""

    def test_record_after_a_torn_line_is_whole(self):
        if not built("file") or not built("http"):
            self.skipTest("the file or webhook plugin is not in this build")
        torn = '{"requestContext": {"requestId": "cut-he'
        spur = spurtest.Spur(CONFIG, {"f.lua": HANDLER, "sub/out.jsonl": torn},
                             name="dest-torn").start()
        try:
            out = os.path.join(spur.dir, "sub", "out.jsonl")
            status, _, _ = spur.request("POST", INVOKE % "named", json.dumps({"n": 7}), EVENT)
            self.assertEqual(status, 202)

            def lines():
                with open(out) as f:
                    text = f.read()
                return text.split("\n") if text.endswith("\n") and text != torn else None
            got = wait_for(lines)
            self.assertEqual(got[0], torn)               # the torn line, ended
            self.assertEqual(json.loads(got[1])["requestPayload"], {"n": 7})
            self.assertEqual(got[2:], [""])
        finally:
            self.assertEqual(spur.stop(), 0)


if __name__ == "__main__":
    spurtest.run(__name__)
