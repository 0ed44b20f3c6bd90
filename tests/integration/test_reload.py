#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_reload.py - hot reload by POST /admin/reload and by SIGHUP.

A reload changes functions (code, settings, added and removed functions)
and nothing else: a change to a listener, the store, routes, queues or
any other top-level key is refused with FILE:LINE naming the key, and the
running config stays. There is no ceiling on the number of reloads (there
was one of 64). Each reload is seen by its effect: a new answer, or the
log line "reloaded" / "reload refused".
"""
import json
import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spurtest  # noqa: E402
from spurtest import wait_for  # noqa: E402

CONFIG = """state_dir: {dir}/var
http: { listen: "127.0.0.1:{port}" }
functions:
  app:
    runtime: lua
    code: app.lua
%s
routes:
  - http: "POST /hook"
    function: app
"""
APP = """function handle(event, ctx)
  return { code = '%s', memory = ctx.memory_limit_in_mb }
end
"""
INVOKE = "/2015-03-31/functions/%s/invocations"


class Reload(unittest.TestCase):
    def setUp(self):
        self.spur = spurtest.Spur(CONFIG % "", {"app.lua": APP % "one"}, name="reload").start()

    def tearDown(self):
        self.assertEqual(self.spur.stop(), 0)

    def write(self, rel, text):
        with open(os.path.join(self.spur.dir, rel), "w") as f:
            f.write(text)

    def invoke(self, name="app"):
        status, _, body = self.spur.request("POST", INVOKE % name, b"{}")
        return status, json.loads(body)

    def post_reload(self):
        status, _, body = self.spur.request("POST", "/admin/reload", timeout=30)
        return status, body.decode()

    def test_function_changes_reload_by_post_and_by_sighup(self):
        self.write("app.lua", APP % "two")
        status, body = self.post_reload()
        self.assertEqual(status, 200, body)
        self.assertEqual(self.invoke(), (200, {"code": "two", "memory": 128}))
        # SIGHUP: a new setting and a new function; seen when it answers
        self.spur.write_config(CONFIG % "    memory: 256MiB\n  other:\n    runtime: lua\n"
                               "    code: app.lua\n")
        self.write("app.lua", APP % "three")
        os.kill(self.spur.proc.pid, signal.SIGHUP)
        wait_for(lambda: self.invoke("other")[0] == 200, timeout=20)
        self.assertEqual(self.invoke(), (200, {"code": "three", "memory": 256}))
        self.assertIn("reloaded", self.spur.log())

    def test_many_reloads_have_no_ceiling(self):
        for i in range(70):     # the old ceiling was 64
            self.write("app.lua", APP % ("v%d" % i))
            status, body = self.post_reload()
            self.assertEqual(status, 200, "reload %d: %s" % (i, body))
        self.assertEqual(self.invoke(), (200, {"code": "v69", "memory": 128}))

    def test_changes_a_reload_cannot_make_are_refused_by_name(self):
        cases = [
            # (new config text, the key named, its line)
            (CONFIG.replace('"POST /hook"', '"POST /other"') % "", "routes", 8),
            (CONFIG.replace("http: {", "log: { level: debug }\nhttp: {") % "", "log", 2),
            ((CONFIG % "").replace("127.0.0.1:{port}", "127.0.0.1:1"), "http", 2),
            (CONFIG % "" + "queues:\n  q: {}\n", "queues", 11),
        ]
        for text, key, line in cases:
            with self.subTest(key=key):
                self.spur.write_config(text)
                self.write("app.lua", APP % "changed")
                status, body = self.post_reload()
                self.assertTrue(400 <= status < 500, (status, body))
                self.assertRegex(body, r"spur\.yaml:%d: '%s' (changed|was added): a reload "
                                 r"changes functions only" % (line, key))
                # the running config stays, code included
                self.assertEqual(self.invoke(), (200, {"code": "one", "memory": 128}))
                status, _, _ = self.spur.request("POST", "/hook", b"{}")
                self.assertEqual(status, 200)
        # the same refusal by SIGHUP: a log line, and nothing changes
        self.spur.write_config(CONFIG.replace('"POST /hook"', '"POST /moved"') % "")
        os.kill(self.spur.proc.pid, signal.SIGHUP)
        wait_for(lambda: "'routes' changed" in self.spur.log(), timeout=20)
        self.assertIn("reload refused", self.spur.log())
        self.assertEqual(self.invoke(), (200, {"code": "one", "memory": 128}))


if __name__ == "__main__":
    spurtest.run(__name__)
