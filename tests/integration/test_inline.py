#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_inline.py - event loops (http.threads: N) and runs that leave them.

On an event loop a Lua handler runs inline; once it has run longer than
http.inline_budget it pauses (the count hook yields its coroutine), the
connection is suspended, and a worker thread takes the run to its end.
Native handlers go to a worker before they start. Each row is seen by an
event (a metric, an answer), never by a fixed sleep:

* a slow handler moves (spur_invocations_moved_total) and the one loop
  answers fast requests while it runs;
* after the move, the timeout, the memory limit, warm state and
  ctx.remaining_ms() behave as inline;
* the handler's own coroutines, pcall and a top-level coroutine.yield
  keep their meaning (the pause never lands in the handler's coroutine);
* a loop whose handler ran out of memory keeps serving;
* a client that leaves while its run is on a worker costs nothing after
  it ends (the daemon serves, SIGTERM exits at once);
* SIGTERM waits for a suspended connection and answers it;
* threads: 0 (a thread per connection) still serves the same handlers.
"""
import json
import os
import signal
import socket
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spurtest  # noqa: E402
from spurtest import metric, wait_for  # noqa: E402

NATIVE = os.environ.get("SPUR_NATIVE_HELLO", "")

CONFIG = """state_dir: {dir}/var
http: { listen: "127.0.0.1:{port}", threads: %(threads)s, inline_budget: %(budget)s }
functions:
  fast:   { runtime: lua, code: app.lua, handler: fast }
  spin:   { runtime: lua, code: app.lua, handler: spin, timeout: 20s }
  forever: { runtime: lua, code: app.lua, handler: forever, timeout: 1s }
  warm:   { runtime: lua, code: app.lua, handler: warm, timeout: 10s }
  bomb:   { runtime: lua, code: app.lua, handler: bomb, memory: 16MiB, timeout: 10s }
  coro:   { runtime: lua, code: app.lua, handler: coro, timeout: 10s }
  topyield: { runtime: lua, code: app.lua, handler: topyield }
  biglog: { runtime: lua, code: app.lua, handler: biglog }
%(native)s
routes:
  - { http: "POST /spin", function: spin }
"""
NATIVE_FN = "  hello: { runtime: native, code: %s, timeout: 3s, env: { GREETING: hi } }"

APP = r"""
local function burn(ms)
  local stop = spur.now() + ms / 1000
  local n = 0
  while spur.now() < stop do n = n + 1 end
  return n
end

function fast(event, ctx) return { ok = true, n = event.n } end

-- busy for event.ms, then answer
function spin(event, ctx)
  burn(event.ms or 50)
  return { done = true, left = ctx.remaining_ms() }
end

function forever(event, ctx) while true do end end

calls = 0
function warm(event, ctx)
  calls = calls + 1
  burn(30)
  return { calls = calls }
end

function bomb(event, ctx)
  if event.big then return #string.rep("x", 1 << 25) end   -- one C call: no check, no move
  if event.spin then burn(30) end
  local t = {}
  for i = 1, 1e8 do t[i] = string.rep("x", 64) .. i end
  return #t
end

function coro(event, ctx)
  local co = coroutine.wrap(function()
    burn(30)
    coroutine.yield(7)
    burn(30)
    return 8
  end)
  local a = co()
  local b = co()
  local ok, c = pcall(function() burn(30); return 9 end)
  return { a = a, b = b, c = c, ok = ok }
end

function topyield(event, ctx) coroutine.yield(1) end

function biglog(event, ctx) print(string.rep("x", 1 << 20)); return "logged" end
"""
INVOKE = "/2015-03-31/functions/%s/invocations"


def start(threads=1, budget="2ms", name="inline"):
    native = NATIVE_FN % NATIVE if NATIVE and os.path.exists(NATIVE) else ""
    return spurtest.Spur(CONFIG % {"threads": threads, "budget": budget, "native": native},
                         {"app.lua": APP}, name=name).start()


def invoke(spur, fn, payload=None, timeout=30):
    status, hdrs, body = spur.request("POST", INVOKE % fn, json.dumps(payload or {}),
                                      timeout=timeout)
    return status, hdrs, json.loads(body) if body.strip() else None


def moved(spur, fn):
    return metric(spur, "spur_invocations_moved_total", function=fn)


class Background(threading.Thread):
    """One request on its own thread; .result when it is done."""

    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn, self.result = fn, None

    def run(self):
        self.result = self.fn()


class EventLoop(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.spur = start()

    @classmethod
    def tearDownClass(cls):
        assert cls.spur.stop() == 0, cls.spur.log()

    def test_1_slow_run_moves_and_the_loop_answers_meanwhile(self):
        before = moved(self.spur, "forever")
        slow = Background(lambda: invoke(self.spur, "forever"))
        slow.start()
        wait_for(lambda: moved(self.spur, "forever") == before + 1, 10)
        # one loop, and it is free: fast calls are answered while the
        # slow one runs (it can only end by its 1 s timeout)
        for n in range(20):
            self.assertEqual(invoke(self.spur, "fast", {"n": n})[::2], (200, {"ok": True, "n": n}))
        # the slow run ends only at its 1 s timeout: still running now
        self.assertTrue(slow.is_alive(), "the fast calls waited for the slow one")
        slow.join(15)
        status, hdrs, body = slow.result
        self.assertEqual(status, 200)
        self.assertEqual(hdrs.get("x-amz-function-error"), "Unhandled")
        self.assertEqual(body["errorType"], "Sandbox.Timedout")
        self.assertEqual(body["errorMessage"], "Task timed out after 1.00 seconds")
        self.assertEqual(moved(self.spur, "fast"), 0, "fast runs stay on the loop")

    def test_2_a_moved_run_keeps_deadline_state_and_limits(self):
        status, _, body = invoke(self.spur, "spin", {"ms": 60})
        self.assertEqual(status, 200)
        self.assertTrue(body["done"])
        self.assertTrue(0 < body["left"] < 20000 - 50, body)
        self.assertGreaterEqual(moved(self.spur, "spin"), 1)
        # warm state survives moves: the same context, one global
        first = invoke(self.spur, "warm")[2]["calls"]
        self.assertEqual(invoke(self.spur, "warm")[2]["calls"], first + 1)
        self.assertGreaterEqual(moved(self.spur, "warm"), 2)
        # the memory limit holds after a move, and the loop goes on serving
        status, _, body = invoke(self.spur, "bomb", {"spin": True})
        self.assertEqual((status, body["errorType"]), (200, "Runtime.OutOfMemory"), body)
        self.assertEqual(invoke(self.spur, "fast", {"n": 1})[0], 200)

    def test_3_out_of_memory_on_the_loop_keeps_it_serving(self):
        before = moved(self.spur, "bomb")
        status, _, body = invoke(self.spur, "bomb", {"big": True})
        self.assertEqual((status, body["errorType"]), (200, "Runtime.OutOfMemory"), body)
        self.assertEqual(moved(self.spur, "bomb"), before, "it failed on the loop")
        for n in range(5):
            self.assertEqual(invoke(self.spur, "fast", {"n": n})[0], 200)

    def test_4_coroutines_and_pcall_keep_their_meaning(self):
        status, _, body = invoke(self.spur, "coro")
        self.assertEqual((status, body), (200, {"a": 7, "b": 8, "c": 9, "ok": True}))
        self.assertGreaterEqual(moved(self.spur, "coro"), 1)
        status, hdrs, body = invoke(self.spur, "topyield")
        self.assertEqual(hdrs.get("x-amz-function-error"), "Unhandled")
        self.assertIn("attempt to yield from outside a coroutine", body["errorMessage"])

    def test_5_routes_move_too(self):
        before = moved(self.spur, "spin")
        status, _, body = self.spur.request("POST", "/spin", json.dumps({"ms": 40}))
        self.assertEqual(status, 200)
        self.assertTrue(json.loads(body)["done"])
        self.assertEqual(moved(self.spur, "spin"), before + 1)

    @unittest.skipUnless(NATIVE and os.path.exists(NATIVE), "no native example built")
    def test_6_native_handlers_run_on_workers(self):
        before = moved(self.spur, "hello")
        status, _, body = invoke(self.spur, "hello", {"name": "x"})
        self.assertEqual(status, 200, body)
        self.assertEqual(moved(self.spur, "hello"), before + 1)

    def test_7_a_client_that_leaves_costs_nothing_after_the_run(self):
        before = moved(self.spur, "spin")
        ends = metric(self.spur, "spur_invocations_total", function="spin")
        s = socket.create_connection(("127.0.0.1", self.spur.port), timeout=10)
        body = json.dumps({"ms": 300}).encode()
        s.sendall(b"POST " + (INVOKE % "spin").encode() + b" HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        wait_for(lambda: moved(self.spur, "spin") == before + 1, 10)
        s.close()
        wait_for(lambda: metric(self.spur, "spur_invocations_total", function="spin")
                 == ends + 1, 10)
        self.assertEqual(invoke(self.spur, "fast", {"n": 2})[0], 200)


class LogLines(unittest.TestCase):
    def test_a_handler_log_line_is_cut_at_256_kib(self):
        spur = start(name="inline-log")
        try:
            self.assertEqual(invoke(spur, "biglog")[::2], (200, "logged"))
            wait_for(lambda: "[truncated" in spur.log(), 10)
            line = next(l for l in spur.log().splitlines() if "[truncated" in l)
            self.assertIn("[truncated %d bytes]" % ((1 << 20) - (256 << 10)), line)
            self.assertLess(len(line), (256 << 10) + 512)
        finally:
            self.assertEqual(spur.stop(), 0)


class Drain(unittest.TestCase):
    def test_sigterm_answers_a_suspended_connection(self):
        spur = start(name="inline-drain")
        slow = Background(lambda: invoke(spur, "spin", {"ms": 700}))
        slow.start()
        wait_for(lambda: moved(spur, "spin") == 1, 10)
        spur.proc.send_signal(signal.SIGTERM)
        slow.join(20)
        self.assertIsNotNone(slow.result, "no answer before the daemon exited")
        status, _, body = slow.result
        self.assertEqual((status, body["done"]), (200, True))
        self.assertEqual(spur.stop(), 0, spur.log())


class ZeroBudget(unittest.TestCase):
    def test_budget_0_moves_every_run_that_reaches_a_check(self):
        spur = start(threads=2, budget="0ms", name="inline-zero")
        try:
            for i in range(10):
                status, _, body = invoke(spur, "spin", {"ms": 5})
                self.assertEqual((status, body["done"]), (200, True))
            self.assertEqual(moved(spur, "spin"), 10)
        finally:
            self.assertEqual(spur.stop(), 0, spur.log())


class ThreadPerConnection(unittest.TestCase):
    def test_threads_0_runs_every_handler_on_its_connection(self):
        spur = start(threads=0, name="inline-tpc")
        try:
            self.assertEqual(invoke(spur, "spin", {"ms": 30})[0], 200)
            self.assertEqual(invoke(spur, "forever")[2]["errorType"], "Sandbox.Timedout")
            self.assertEqual(moved(spur, "spin") + moved(spur, "forever"), 0)
        finally:
            self.assertEqual(spur.stop(), 0, spur.log())


if __name__ == "__main__":
    spurtest.run(__name__)
