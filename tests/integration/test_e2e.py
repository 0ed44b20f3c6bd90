#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_e2e.py - spur as a user meets it: `spur serve` driven by the Debian
AWS CLI (/usr/bin/aws), by `spur invoke` and `spur check`, with handlers
that count, fail, loop forever and allocate without end.

What the foundation issue is checked with: AWS CLI results, FunctionError,
exit 254 for an unknown function, a warm counter, a timeout held within
10% and a working next invocation, a memory bomb stopped at its limit with
the daemon's RSS flat, file:line from `spur check`, SIGTERM draining.
"""
import base64
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spurtest  # noqa: E402
from spurtest import INVOKE, aws_env, wait_for  # noqa: E402

SPUR = spurtest.SPUR
AWS = "/usr/bin/aws"

HANDLERS = {
    "counter.lua": "local n = 0\nfunction handle(event, ctx)\n  n = n + 1\n"
                   "  ctx.log('count', n)\n  return { n = n, name = event.name }\nend\n",
    "boom.lua": "function handle(event, ctx)\n"
                "  error({ errorType = 'BoomError', errorMessage = 'it went boom' })\nend\n",
    "loop.lua": "function handle(event, ctx)\n  while true do end\nend\n",
    "pcallloop.lua": "function handle(event, ctx)\n"
                     "  while true do pcall(function() while true do end end) end\nend\n",
    "bomb.lua": "function handle(event, ctx)\n  local t = {}\n"
                "  while true do t[#t + 1] = string.rep('x', 4096) .. #t end\nend\n",
    "slow.lua": "function handle(event, ctx)\n  local t = spur.now()\n"
                "  while spur.now() - t < 1.0 do end\n  return 'finished'\nend\n",
    "env.lua": "function handle(event, ctx)\n  return { g = ctx.env.GREETING,"
               " arn = ctx.invoked_function_arn, v = ctx.function_version,"
               " left = ctx.remaining_ms() > 0 }\nend\n",
}

CONFIG = """state_dir: {dir}/var
log: { level: info, format: %s }
http: { listen: "127.0.0.1:{port}" }
functions:
  counter: { runtime: lua, code: counter.lua }
  boom: { runtime: lua, code: boom.lua }
  loop: { runtime: lua, code: loop.lua, timeout: 2s }
  pcallloop: { runtime: lua, code: pcallloop.lua, timeout: 1s }
  bomb: { runtime: lua, code: bomb.lua, memory: 64MiB, timeout: 20s }
  slow: { runtime: lua, code: slow.lua, timeout: 10s }
  env: { runtime: lua, code: env.lua, env: { GREETING: hi } }
"""


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class E2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.spur = spurtest.Spur(CONFIG % "text", HANDLERS, name="e2e").start()
        cls.url = "http://127.0.0.1:%d" % cls.spur.port

    @classmethod
    def tearDownClass(cls):
        rc = cls.spur.stop()
        assert rc == 0, "spur exited %d" % rc

    def aws_invoke(self, fn, payload="{}", extra=()):
        out = tempfile.NamedTemporaryFile(delete=False)
        out.close()
        p = subprocess.run(
            [AWS, "lambda", "invoke", "--endpoint-url", self.url, "--function-name", fn,
             "--cli-binary-format", "raw-in-base64-out", "--payload", payload,
             *extra, out.name],
            env=aws_env(), capture_output=True, text=True, timeout=120)
        with open(out.name, "rb") as f:
            body = f.read()
        os.unlink(out.name)
        return p, body

    def test_aws_cli_result_and_warm_counter(self):
        p1, b1 = self.aws_invoke("counter", '{"name":"ada"}')
        self.assertEqual(p1.returncode, 0, p1.stderr)
        meta = json.loads(p1.stdout)
        self.assertEqual(meta["StatusCode"], 200)
        self.assertEqual(meta["ExecutedVersion"], "$LATEST")
        first = json.loads(b1)
        self.assertEqual(first["name"], "ada")
        p2, b2 = self.aws_invoke("counter")
        self.assertEqual(p2.returncode, 0, p2.stderr)
        self.assertEqual(json.loads(b2)["n"], first["n"] + 1, "warm context keeps its globals")

    def test_aws_cli_function_error(self):
        p, body = self.aws_invoke("boom")
        self.assertEqual(p.returncode, 0, p.stderr)
        meta = json.loads(p.stdout)
        self.assertEqual(meta["FunctionError"], "Unhandled")
        err = json.loads(body)
        self.assertEqual(err["errorType"], "BoomError")
        self.assertEqual(err["errorMessage"], "it went boom")
        self.assertIsInstance(err["stackTrace"], list)

    def test_aws_cli_unknown_function(self):
        p, _ = self.aws_invoke("does-not-exist")
        self.assertEqual(p.returncode, 254)
        self.assertIn("ResourceNotFoundException", p.stderr)

    def test_aws_cli_log_tail_and_qualifier(self):
        p, _ = self.aws_invoke("counter", extra=("--log-type", "Tail", "--qualifier", "$LATEST"))
        self.assertEqual(p.returncode, 0, p.stderr)
        log = base64.b64decode(json.loads(p.stdout)["LogResult"]).decode()
        self.assertIn("START RequestId:", log)
        self.assertIn("count", log)
        self.assertRegex(log, r"REPORT RequestId: \S+\tDuration: [\d.]+ ms")

    def test_aws_cli_arn_and_env(self):
        arn = "arn:aws:lambda:us-east-1:000000000000:function:env"
        p, body = self.aws_invoke(arn)
        self.assertEqual(p.returncode, 0, p.stderr)
        r = json.loads(body)
        self.assertEqual(r, {"g": "hi", "arn": arn, "v": "$LATEST", "left": True})

    def test_timeout_within_ten_percent_then_next_works(self):
        for fn, limit in (("loop", 2.0), ("pcallloop", 1.0)):
            t0 = time.monotonic()
            status, hdrs, body = self.spur.request("POST", INVOKE % fn, "{}", timeout=30)
            elapsed = time.monotonic() - t0
            self.assertEqual(status, 200)
            self.assertEqual(hdrs.get("x-amz-function-error"), "Unhandled")
            err = json.loads(body)
            self.assertEqual(err["errorMessage"], "Task timed out after %.2f seconds" % limit)
            self.assertGreaterEqual(elapsed, limit * 0.99)
            self.assertLessEqual(elapsed, limit + max(limit * 0.1, 0.05),
                                 "%s stopped after %.3f s" % (fn, elapsed))
        status, _, body = self.spur.request("POST", INVOKE % "counter", "{}")
        self.assertEqual(status, 200)
        self.assertIn(b'"n":', body)

    def test_memory_bomb_stops_at_limit_rss_flat(self):
        pid = self.spur.proc.pid
        # one bomb first: the allocator's arenas reach their working size
        self.spur.request("POST", INVOKE % "bomb", "{}", timeout=60)
        before = rss_kib(pid)
        for _ in range(5):
            status, hdrs, body = self.spur.request("POST", INVOKE % "bomb", "{}", timeout=60)
            self.assertEqual(status, 200)
            err = json.loads(body)
            self.assertEqual(err["errorType"], "Runtime.OutOfMemory", body)
            self.assertIn("64 MiB", err["errorMessage"])
        after = rss_kib(pid)
        self.assertLess(after - before, 32 * 1024,
                        "RSS grew from %d to %d KiB over 5 bombs" % (before, after))
        status, _, _ = self.spur.request("POST", INVOKE % "counter", "{}")
        self.assertEqual(status, 200)

    def test_spur_invoke_cli(self):
        env = dict(os.environ, SPUR_ENDPOINT=self.url)
        p = subprocess.run([SPUR, "invoke", "counter", "--payload", '{"name":"cli"}', "--log"],
                           env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["name"], "cli")
        self.assertIn("REPORT RequestId:", p.stderr)
        # --async says which event it stored, and `spur event` finds it
        p = subprocess.run([SPUR, "invoke", "counter", "--async", "--payload", '{"name":"a"}'],
                           env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout)
        self.assertEqual(out["StatusCode"], 202, p.stdout)
        self.assertRegex(out["EventId"], r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
        p = subprocess.run([SPUR, "event", out["EventId"]], env=env, capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(out["EventId"], p.stdout)
        p = subprocess.run([SPUR, "invoke", "boom"], env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn("BoomError", p.stdout)
        p = subprocess.run([SPUR, "invoke", "nope"], env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn("ResourceNotFoundException", p.stderr)
        p = subprocess.run([SPUR, "invoke", "-e", "http://127.0.0.1:1", "counter"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 3)
        p = subprocess.run([SPUR, "invoke"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write('{"name": "from-file"}')
        p = subprocess.run([SPUR, "invoke", "counter", "--payload", "@" + f.name],
                           env=env, capture_output=True, text=True, timeout=30)
        os.unlink(f.name)
        self.assertEqual(json.loads(p.stdout)["name"], "from-file")

    def test_report_lines(self):
        self.spur.request("POST", INVOKE % "counter", "{}")
        log = self.spur.log()
        self.assertRegex(log, r"START RequestId: [0-9a-f-]{36} Version: \$LATEST")
        self.assertRegex(log, r"END RequestId: [0-9a-f-]{36}")
        self.assertRegex(log, r"REPORT RequestId: [0-9a-f-]{36}\tDuration: [\d.]+ ms\t"
                              r"Billed Duration: \d+ ms\tMemory Size: 128 MB\tMax Memory Used: \d+ MB")
        self.assertRegex(log, r"Init Duration: [\d.]+ ms")


class Drain(unittest.TestCase):
    def test_sigterm_lets_running_invocation_finish(self):
        s = spurtest.Spur(CONFIG % "json", HANDLERS, name="drain").start()
        result = {}

        def call():
            result["r"] = s.request("POST", INVOKE % "slow", "{}", timeout=30)

        t = threading.Thread(target=call)
        t.start()
        self.assertTrue(wait_for(lambda: "START RequestId" in s.log(), 10, 0.01),
                        "the invocation did not start; log:\n" + s.log())
        rc = s.stop()
        t.join(30)
        self.assertEqual(rc, 0)
        status, _, body = result["r"]
        self.assertEqual(status, 200)
        self.assertEqual(body, b'"finished"')

    def test_json_logs(self):
        s = spurtest.Spur(CONFIG % "json", HANDLERS, name="jsonlog").start()
        s.request("POST", INVOKE % "counter", "{}")
        self.assertEqual(s.stop(), 0)
        lines = [json.loads(l) for l in s.log().splitlines() if l.startswith("{")]
        report = [l for l in lines if l["msg"].startswith("REPORT")]
        self.assertTrue(report)
        self.assertEqual(report[0]["function"], "counter")
        self.assertEqual(report[0]["version"], "$LATEST")
        self.assertRegex(report[0]["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        handler = [l for l in lines if l["msg"].startswith("count")]
        self.assertEqual(handler[0]["request_id"], report[0]["request_id"])


class Check(unittest.TestCase):
    def run_check(self, config, files):
        d = tempfile.mkdtemp(prefix="spurtest-check-")
        for rel, text in files.items():
            with open(os.path.join(d, rel), "w") as f:
                f.write(text)
        path = os.path.join(d, "spur.yaml")
        with open(path, "w") as f:
            f.write(config)
        p = subprocess.run([SPUR, "check", "-c", path], capture_output=True, text=True, timeout=60)
        return p, path

    def test_config_error_file_line(self):
        p, path = self.run_check("functions:\n  f:\n    runtime: lua\n    code: f.lua\n    timout: 3s\n",
                                 {"f.lua": "function handle() end\n"})
        self.assertEqual(p.returncode, 1)
        self.assertIn("%s:5:" % path, p.stderr)
        self.assertIn("timeout", p.stderr)

    def test_lua_syntax_error_file_line(self):
        p, path = self.run_check("functions:\n  f: { runtime: lua, code: f.lua }\n",
                                 {"f.lua": "function handle(e)\n  return {\nend\n"})
        self.assertEqual(p.returncode, 1)
        self.assertIn(os.path.join(os.path.dirname(path), "f.lua") + ":3:", p.stderr)

    def test_init_error(self):
        p, path = self.run_check("functions:\n  f: { runtime: lua, code: f.lua }\n",
                                 {"f.lua": "error('no config')\nfunction handle() end\n"})
        self.assertEqual(p.returncode, 1)
        self.assertIn("%s:2: function 'f': INIT failed" % path, p.stderr)
        self.assertIn("f.lua:1:", p.stderr)

    def test_ok_and_example_config(self):
        p, path = self.run_check("functions:\n  f: { runtime: lua, code: f.lua }\n",
                                 {"f.lua": "function handle() return 1 end\n"})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("ok (1 functions", p.stdout)
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        p = subprocess.run([SPUR, "check", "-c", os.path.join(root, "conf", "spur.yaml")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_usage_errors(self):
        self.assertEqual(subprocess.run([SPUR], capture_output=True).returncode, 1)
        self.assertEqual(subprocess.run([SPUR, "frobnicate"], capture_output=True).returncode, 1)
        self.assertEqual(subprocess.run([SPUR, "check"], capture_output=True).returncode, 1)
        v = subprocess.run([SPUR, "--version"], capture_output=True, text=True)
        self.assertEqual(v.returncode, 0)
        self.assertIn("spur ", v.stdout)
        p = subprocess.run([SPUR, "serve", "-c", "/nonexistent.yaml"], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 1)
        self.assertIn("/nonexistent.yaml", p.stderr)

    def test_bad_plugins_refused(self):
        build = os.path.dirname(os.path.dirname(os.path.abspath(SPUR)))
        plugdir = tempfile.mkdtemp(prefix="spurtest-plugins-")
        for name in ("badabi", "badsize", "nosym"):
            src = os.path.join(build, "tests", "unit", name + ".so")
            with open(src, "rb") as f, open(os.path.join(plugdir, name + ".so"), "wb") as g:
                g.write(f.read())
        p, path = self.run_check("plugin_dir: %s\nfunctions:\n  f: { runtime: lua, code: f.lua }\n"
                                 % plugdir, {"f.lua": "function handle() return 1 end\n"})
        self.assertEqual(p.returncode, 1)
        self.assertRegex(p.stderr, r"badabi\.so: plugin ABI 99\.0, but this spur speaks ABI 1\.\d+")
        self.assertIn("badsize.so: descriptor is 12 bytes", p.stderr)
        self.assertIn("nosym.so: not a spur plugin", p.stderr)

    def test_plugins_listed(self):
        p = subprocess.run([SPUR, "plugins"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("lua", p.stdout)
        self.assertIn("http.listen", p.stdout)


if __name__ == "__main__":
    spurtest.run(__name__)
