#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_metrics.py - GET /metrics after a mixed workload, JSON logs, `spur top`.

Issue 7, item 1 ("How it will be checked") and item 5. One `spur serve`
with `log.format: json` runs a mixed workload:

  * hello: 3 sync successes and 2 sync function errors;
  * closed: reserved concurrency 0, 2 sync invokes -> 429 (throttled);
  * flaky: 2 async events whose handler fails on attempt 1 and succeeds
    on attempt 2 (so 2 failed attempts, each retried);
  * doomed: 1 async event, max_retries 0, on_failure queue://dlq (a
    dead-letter: RetriesExhausted, one record in dlq);
  * slow: version 1 published with 1 provisioned context, then 2
    concurrent invokes of slow:1 (one spills over to a cold start);
  * one invoke of a function that does not exist (404).

The scrape is parsed with python3-prometheus-client's text parser and the
counters are compared with what the workload did: invocations by outcome
per function and version, retries = failed attempts that were retried,
received events, dropped by reason, dead-letter depth 1, queue depth 0
lines for configured queues that hold nothing, provisioned spillover, and
HTTP requests by status class (the difference between a scrape before and
one after the workload equals the responses the test saw). When
`promtool` (Debian package prometheus) is installed, `promtool check
metrics` must accept the scrape. Every line the daemon logged parses as a
JSON object with time (RFC 3339), level and msg. `spur top --once`
prints a table with every function and the dead-letter queue, without
terminal escapes when stdout is a pipe.

meson's python3 may be one without prometheus_client (a pyenv shim): the
test then runs itself again with Debian's /usr/bin/python3, and is
skipped (exit 77) when neither has it.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import unittest

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    if sys.executable != "/usr/bin/python3" and os.access("/usr/bin/python3", os.X_OK):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("python3-prometheus-client is not installed: skipped")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spurtest  # noqa: E402
from spurtest import EVENT, INVOKE, total, wait_for  # noqa: E402

LATEST = "$LATEST"

HELLO = """function handle(event, ctx)
  ctx.log('HELLO', event.n)
  if event.fail then
    error({ errorType = 'Boom', errorMessage = 'asked to fail' })
  end
  return { n = event.n }
end
"""
FLAKY = """function handle(event, ctx)
  ctx.log('ATTEMPT', ctx.attempt)
  if ctx.attempt < 2 then
    error({ errorType = 'Flaky', errorMessage = 'attempt ' .. ctx.attempt })
  end
  return { attempt = ctx.attempt }
end
"""
DOOMED = """function handle(event, ctx)
  error({ errorType = 'Doomed', errorMessage = 'always fails' })
end
"""
SLOW = """function handle(event, ctx)
  local t = spur.now()
  while spur.now() - t < 0.4 do end
  return { slow = true }
end
"""

CONFIG = """state_dir: {dir}/var
log: { format: json }
http: { listen: "127.0.0.1:{port}" }
queues: { dlq: {}, spare: {} }
functions:
  hello:
    runtime: lua
    code: hello.lua
  closed:
    runtime: lua
    code: hello.lua
    concurrency: { reserved: 0 }
  flaky:
    runtime: lua
    code: flaky.lua
    async: { max_retries: 2, backoff: { base: 100ms, factor: 2, cap: 1s } }
  doomed:
    runtime: lua
    code: doomed.lua
    async: { max_retries: 0, on_failure: ["queue://dlq"] }
  slow:
    runtime: lua
    code: slow.lua
"""

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def parse(text):
    """{(sample name, frozenset of label items): value} with the client's
    parser (the shape of spurtest.metrics(), so spurtest.total() applies)."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def get(samples, name, default=None, **labels):
    return samples.get((name, frozenset(labels.items())), default)


class Metrics(unittest.TestCase):
    spur = None

    @classmethod
    def setUpClass(cls):
        os.environ.pop("SPUR_ADMIN_TOKEN", None)
        cls.statuses = []       # every response from the baseline scrape on
        cls.spur = spurtest.Spur(CONFIG, {"hello.lua": HELLO, "flaky.lua": FLAKY,
                                          "doomed.lua": DOOMED, "slow.lua": SLOW},
                                 name="metrics").start()
        cls.lock = threading.Lock()
        try:
            cls.before_text = cls.call("GET", "/metrics")[2].decode()
            cls.workload()
            cls.after_text = cls.spur.request("GET", "/metrics")[2].decode()
        except Exception:
            cls.spur.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.spur and cls.spur.alive():
            cls.spur.stop()

    @classmethod
    def call(cls, method, path, body=None, headers=None):
        status, hdrs, data = cls.spur.request(method, path, body, headers=headers)
        with cls.lock:
            cls.statuses.append(status)
        return status, hdrs, data

    @classmethod
    def workload(cls):
        # provisioned concurrency: version 1 of slow with one warm context
        st, _, data = cls.call("POST", "/2015-03-31/functions/slow/versions", "{}")
        assert st == 201, data
        st, _, data = cls.call("PUT", "/2019-09-30/functions/slow/provisioned-concurrency"
                               "?Qualifier=1", json.dumps({"ProvisionedConcurrentExecutions": 1}))
        assert st in (200, 201, 202), data

        def ready():
            s, _, d = cls.call("GET", "/2019-09-30/functions/slow/provisioned-concurrency"
                               "?Qualifier=1")
            return s == 200 and json.loads(d).get("Status") == "READY"
        assert wait_for(ready, 20, 0.1), "provisioned concurrency never READY"
        # two at once: one takes the warm context, the other cold-starts
        barrier = threading.Barrier(2)
        slow = []

        def one():
            barrier.wait()
            slow.append(cls.call("POST", INVOKE % "slow:1", "{}")[0])
        threads = [threading.Thread(target=one) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert slow == [200, 200], slow

        for n in range(3):
            st, hdrs, _ = cls.call("POST", INVOKE % "hello", json.dumps({"n": n}))
            assert st == 200 and "x-amz-function-error" not in hdrs, (st, hdrs)
        for n in range(2):
            st, hdrs, _ = cls.call("POST", INVOKE % "hello", json.dumps({"n": n, "fail": True}))
            assert st == 200 and "x-amz-function-error" in hdrs, (st, hdrs)
        for _ in range(2):
            st, _, data = cls.call("POST", INVOKE % "closed", "{}")
            assert st == 429, (st, data)
        st, _, _ = cls.call("POST", INVOKE % "nosuch", "{}")
        assert st == 404, st
        for n in range(2):
            st, _, _ = cls.call("POST", INVOKE % "flaky", json.dumps({"n": n}), EVENT)
            assert st == 202, st
        st, _, _ = cls.call("POST", INVOKE % "doomed", "{}", EVENT)
        assert st == 202, st

        def settled():
            s = parse(cls.call("GET", "/metrics")[2].decode())
            return (total(s, "spur_async_event_age_seconds_count", function="flaky") == 2 and
                    total(s, "spur_async_event_age_seconds_count", function="doomed") == 1 and
                    get(s, "spur_dead_letter_depth", queue="dlq") == 1 and
                    total(s, "spur_queue_depth", queue="outbox") == 0)
        assert wait_for(settled, 30, 0.1), "the async events did not end:\n" + cls.spur.log()

    # -- the scrape ---------------------------------------------------------------------
    def test_1_parses(self):
        self.assertIn("text/plain", self.spur.request("GET", "/metrics")[1]
                      .get("content-type", ""))
        names = {fam.name for fam in text_string_to_metric_families(self.after_text)}
        for n in ("spur_invocations", "spur_invocation_duration_seconds",
                  "spur_init_duration_seconds", "spur_cold_starts", "spur_contexts",
                  "spur_concurrent_executions", "spur_async_event_age_seconds",
                  "spur_queue_depth", "spur_dead_letter_depth", "spur_http_requests",
                  "spur_async_events_received", "spur_async_events_retried",
                  "spur_async_events_dropped", "spur_provisioned_spillover"):
            self.assertIn(n, names)

    def test_2_promtool(self):
        promtool = shutil.which("promtool")
        if not promtool:
            self.skipTest("promtool is not installed (Debian package prometheus): "
                          "`promtool check metrics` not run")
        p = subprocess.run([promtool, "check", "metrics"], input=self.after_text,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, "promtool check metrics:\n%s%s" % (p.stdout, p.stderr))

    def test_3_invocations(self):
        s = parse(self.after_text)
        want = {
            ("hello", LATEST): {"success": 3, "error": 2, "timeout": 0, "throttled": 0},
            ("closed", LATEST): {"success": 0, "error": 0, "timeout": 0, "throttled": 2},
            ("flaky", LATEST): {"success": 2, "error": 2, "timeout": 0, "throttled": 0},
            ("doomed", LATEST): {"success": 0, "error": 1, "timeout": 0, "throttled": 0},
            ("slow", "1"): {"success": 2, "error": 0, "timeout": 0, "throttled": 0},
            ("slow", LATEST): {"success": 0, "error": 0, "timeout": 0, "throttled": 0},
        }
        for (fn, ver), outcomes in want.items():
            for outcome, n in outcomes.items():
                self.assertEqual(get(s, "spur_invocations_total", function=fn, version=ver,
                                     outcome=outcome), n, (fn, ver, outcome))
            ran = outcomes["success"] + outcomes["error"] + outcomes["timeout"]
            self.assertEqual(get(s, "spur_invocation_duration_seconds_count", function=fn,
                                 version=ver), ran, (fn, ver))
            self.assertEqual(get(s, "spur_invocation_duration_seconds_bucket", function=fn,
                                 version=ver, le="+Inf"), ran, (fn, ver))
        self.assertGreaterEqual(get(s, "spur_cold_starts_total", function="hello",
                                    version=LATEST), 1)
        for fn in ("hello", "closed", "flaky", "doomed", "slow"):
            self.assertEqual(get(s, "spur_concurrent_executions", function=fn), 0, fn)

    def test_4_async(self):
        s = parse(self.after_text)
        # retries = failed attempts that were retried: flaky's 2 errors; doomed
        # (max_retries 0) retried nothing
        self.assertEqual(get(s, "spur_async_events_retried_total", function="flaky"), 2)
        self.assertEqual(get(s, "spur_async_events_retried_total", function="flaky"),
                         get(s, "spur_invocations_total", function="flaky", version=LATEST,
                             outcome="error"))
        self.assertEqual(total(s, "spur_async_events_retried_total", function="doomed"), 0)
        self.assertEqual(get(s, "spur_async_events_received_total", function="flaky"), 2)
        self.assertEqual(get(s, "spur_async_events_received_total", function="doomed"), 1)
        self.assertEqual(total(s, "spur_async_events_received_total"), 3)
        self.assertEqual(get(s, "spur_async_events_dropped_total", function="doomed",
                             reason="RetriesExhausted"), 1)
        self.assertEqual(total(s, "spur_async_events_dropped_total"), 1)
        self.assertEqual(get(s, "spur_async_event_age_seconds_count", function="flaky"), 2)
        self.assertEqual(get(s, "spur_async_event_age_seconds_count", function="doomed"), 1)

    def test_5_queues(self):
        s = parse(self.after_text)
        self.assertEqual(get(s, "spur_dead_letter_depth", queue="dlq"), 1)
        self.assertEqual(get(s, "spur_queue_depth", queue="dlq"), 1)
        # configured and built-in queues that hold nothing still have a line
        for q in ("spare", "async", "outbox", "undeliverable"):
            self.assertEqual(get(s, "spur_queue_depth", queue=q), 0, q)
        self.assertIsNone(get(s, "spur_dead_letter_depth", queue="spare"))
        # before the workload the dead-letter queue was empty, and said so
        b = parse(self.before_text)
        self.assertEqual(get(b, "spur_dead_letter_depth", queue="dlq"), 0)
        self.assertEqual(get(b, "spur_queue_depth", queue="dlq"), 0)

    def test_6_provisioned(self):
        s = parse(self.after_text)
        self.assertEqual(get(s, "spur_contexts", function="slow", version="1",
                             state="provisioned"), 1)
        self.assertEqual(get(s, "spur_provisioned_spillover_total", function="slow",
                             version="1"), 1)
        self.assertEqual(get(s, "spur_provisioned_spillover_total", function="hello",
                             version=LATEST), 0)
        self.assertGreaterEqual(get(s, "spur_cold_starts_total", function="slow",
                                    version="1"), 2)

    def test_7_http_classes(self):
        b, a = parse(self.before_text), parse(self.after_text)
        for k in range(1, 6):
            code = "%dxx" % k
            seen = sum(1 for st in self.statuses if st // 100 == k)
            self.assertEqual(get(a, "spur_http_requests_total", code=code) -
                             get(b, "spur_http_requests_total", code=code), seen,
                             "%s (statuses seen: %s)" % (code, sorted(self.statuses)))
        self.assertGreaterEqual(sum(1 for st in self.statuses if st == 429), 2)

    # -- spur top ---------------------------------------------------------------------------
    def test_8_top_once(self):
        url = "http://127.0.0.1:%d" % self.spur.port
        p = subprocess.run([spurtest.SPUR, "top", "-e", url, "--once", "--interval", "0.3"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout
        self.assertNotIn("\x1b[", out, "terminal escapes on a pipe")
        for word in ("FUNCTION", "INV/s", "P50", "P99", "COLD", "hello", "closed", "flaky",
                     "doomed", "slow", "QUEUE", "dlq", "spare", "dead-letter"):
            self.assertIn(word, out)
        hello = [ln for ln in out.splitlines() if ln.split()[:2] == ["hello", LATEST]]
        self.assertEqual(len(hello), 1, out)
        cols = hello[0].split()
        # INV/s ERR/s THR/s: nothing ran during --once's interval
        self.assertEqual(cols[2:5], ["0.0", "0.0", "0.0"], out)
        self.assertRegex(cols[5], r"^[0-9.]+(us|ms|s)\*$", out)    # p50 since the start
        # a router that is not there: exit code 3
        dead = spurtest.free_port()
        p = subprocess.run([spurtest.SPUR, "top", "-e", "http://127.0.0.1:%d" % dead, "--once"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 3, p.stderr)
        p = subprocess.run([spurtest.SPUR, "top", "--interval", "zero"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 1)

    # -- logs (last: stops the daemon to have every line) -------------------------------------
    def test_9_json_logs(self):
        self.assertEqual(self.spur.stop(), 0)
        lines = [ln for ln in self.spur.log().splitlines() if ln.strip()]
        self.assertGreater(len(lines), 20)
        handler = 0
        for ln in lines:
            try:
                o = json.loads(ln)
            except ValueError:
                self.fail("not JSON: %r" % ln)
            self.assertIsInstance(o, dict, ln)
            for key in ("time", "level", "msg"):
                self.assertIn(key, o, ln)
            self.assertRegex(o["time"], RFC3339, ln)
            if "HELLO" in o["msg"]:
                handler += 1
        self.assertEqual(handler, 5, "the handler's ctx.log lines")


if __name__ == "__main__":
    spurtest.run(__name__)
