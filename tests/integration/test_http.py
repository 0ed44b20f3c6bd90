#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_http.py - the http source against a real `spur serve`.

Covers the HTTP and JSON rows of shared BAD_INPUTS.md, the Lambda Invoke
API (SPEC 4.3) and webhook routes (API Gateway v2.0 events). Two daemons:
`main` with the default limits, and `tight` (connection_timeout 1s,
request_timeout 1s, max_connections 20) for the slow-client and
connection-limit rows; both run once per mode of `threads` (0: a thread
per connection; 2: a pool of epoll threads), every test class has a Pool*
twin. Python 3 standard library only.
"""
import base64
import json
import os
import select
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spurtest  # noqa: E402
from spurtest import INVOKE, body_of, status_of, wait_for  # noqa: E402

MiB = 1 << 20

HANDLERS = {
    "echo.lua": "function handle(event, ctx)\n  return event\nend\n",
    "ok.lua": "function handle(event, ctx)\n  return { ok = true }\nend\n",
    "num.lua": "function handle(event, ctx)\n  return 42\nend\n",
    "boom.lua": "function handle(event, ctx)\n"
                "  error({ errorType = \"BoomError\", errorMessage = \"boom\" })\nend\n",
    "counter.lua": "local n = 0\nfunction handle(event, ctx)\n  n = n + 1\n"
                   "  ctx.log(\"COUNTER-RAN\")\n  return { n = n }\nend\n",
    "logger.lua": "function handle(event, ctx)\n  ctx.log(\"hello-tail\")\n"
                  "  return {}\nend\n",
    "resp.lua": "function handle(event, ctx)\n  return {\n"
                "    statusCode = 201,\n"
                "    headers = { [\"X-A\"] = \"1\", [\"content-type\"] = \"text/plain\" },\n"
                "    cookies = { \"a=1\", \"b=2\" },\n"
                "    body = \"aGVsbG8=\",\n    isBase64Encoded = true,\n  }\nend\n",
}

FUNCTIONS = "".join(
    "  %s:\n    runtime: lua\n    code: %s\n    handler: handle\n    timeout: 10s\n"
    % (f[:-4], f) for f in sorted(HANDLERS))

ROUTES = """routes:
  - http: "POST /hooks/{id}"
    function: echo
  - http: "GET /items/{id}/x/{rest+}"
    function: echo
  - http: "GET /items/special/x/y"
    function: echo
  - http: "ANY /resp"
    function: resp
  - http: "POST /async"
    function: echo
    mode: async
  - http: "GET /boom"
    function: boom
  - http: "GET /num"
    function: num
"""

MAIN = """state_dir: {dir}/var
log: { level: info }
http:
  listen: 127.0.0.1:{port}
functions:
""" + FUNCTIONS + ROUTES

TIGHT = """state_dir: {dir}/var
log: { level: info }
http:
  listen: 127.0.0.1:{port}
  connection_timeout: 1s
  request_timeout: 1s
  max_connections: 20
functions:
""" + FUNCTIONS

# (threads, "main" | "tight") -> its daemon. Every test class runs twice:
# as written, on thread-per-connection daemons (threads: 0), and as its
# Pool* twin on daemons with a pool of two epoll threads (threads: 2).
DAEMONS = {}
POOL_THREADS = 2


def with_threads(config, n):
    return config.replace("http:\n", "http:\n  threads: %d\n" % n, 1) if n else config


def setUpModule():
    for n in (0, POOL_THREADS):
        for name, config in (("main", MAIN), ("tight", TIGHT)):
            DAEMONS[n, name] = spurtest.Spur(with_threads(config, n), HANDLERS,
                                             "%s-t%d" % (name, n)).start()


def tearDownModule():
    for d in DAEMONS.values():
        if d is not None:
            alive = d.alive()
            rc = d.stop()
            if not alive or rc != 0:
                sys.stdout.write("--- %s log ---\n%s\n" % (d.name, d.log()))
            assert alive, "%s died during the tests" % d.name
            assert rc == 0, "%s exited %s after SIGTERM" % (d.name, rc)


def invoke(d, fn, payload=b"{}", headers=None, query=""):
    return d.request("POST", INVOKE % fn + query, payload, headers)


def closed_within(s, deadline):
    """True when the server closes (EOF or reset) s before deadline;
    whatever it sends first (an error page) is read and ignored."""
    while time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if s.recv(65536) == b"":
                return True
        except socket.timeout:
            return False
        except OSError:
            return True
    return False


def healthy(d):
    return d.request("GET", "/healthz", timeout=5)[0] == 200


class Daemons:
    """The daemons a test class talks to: `threads` picks the mode."""
    threads = 0

    @property
    def main(self):
        return DAEMONS[self.threads, "main"]

    @property
    def tight(self):
        return DAEMONS[self.threads, "tight"]


class HttpLimits(Daemons, unittest.TestCase):
    """The HTTP table of BAD_INPUTS.md."""

    def test_10gb_content_length_413_at_once(self):
        t0 = time.monotonic()
        raw = self.main.raw(b"POST " + (INVOKE % "counter").encode() + b" HTTP/1.1\r\n"
                       b"Host: x\r\nContent-Length: 10737418240\r\n\r\n", timeout=5)
        self.assertEqual(status_of(raw), 413, raw[:200])
        self.assertLess(time.monotonic() - t0, 3)
        self.assertIn(b"RequestTooLargeException", raw)
        json.loads(body_of(raw))

    def test_body_over_limit_plain_and_chunked_never_runs(self):
        big = b"[" + b"1," * (7 * MiB // 2) + b"1]"
        head = (b"POST " + (INVOKE % "counter").encode() + b" HTTP/1.1\r\nHost: x\r\n")
        # plain, with the body actually sent
        raw = self.main.send_and_read(
            [head + b"Content-Length: %d\r\n\r\n" % len(big)] +
            [big[i:i + 65536] for i in range(0, len(big), 65536)], timeout=10)
        self.assertEqual(status_of(raw), 413, raw[:300])
        json.loads(body_of(raw))
        # chunked: refused as the limit is passed
        chunks = [head + b"Transfer-Encoding: chunked\r\n\r\n"]
        for i in range(0, len(big), 65536):
            part = big[i:i + 65536]
            chunks.append(b"%x\r\n" % len(part) + part + b"\r\n")
        chunks.append(b"0\r\n\r\n")
        raw = self.main.send_and_read(chunks, timeout=10)
        self.assertEqual(status_of(raw), 413, raw[:300])
        json.loads(body_of(raw))
        # async limit (1 MiB by default)
        mid = b'"' + b"x" * (2 * MiB) + b'"'
        raw = self.main.send_and_read(
            [head + b"X-Amz-Invocation-Type: Event\r\nContent-Length: %d\r\n\r\n" % len(mid),
             mid], timeout=10)
        self.assertEqual(status_of(raw), 413, raw[:300])
        # the handler never ran: its first run counts 1
        st, h, body = invoke(self.main, "counter")
        self.assertEqual(st, 200, body)
        self.assertEqual(json.loads(body), {"n": 1})
        self.assertLessEqual(self.main.log().count("COUNTER-RAN"), 1)

    def test_chunked_within_limit(self):
        raw = self.main.raw(b"POST " + (INVOKE % "echo").encode() + b" HTTP/1.1\r\nHost: x\r\n"
                       b"Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n")
        self.assertEqual(status_of(raw), 200, raw)
        self.assertEqual(json.loads(body_of(raw)), {"a": 1})

    def test_broken_chunk_sizes(self):
        for size in (b"zz", b"FFFFFFFFFFFFFFFFFF"):
            raw = self.main.raw(b"POST " + (INVOKE % "echo").encode() + b" HTTP/1.1\r\n"
                           b"Host: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                           size + b"\r\nabc\r\n0\r\n\r\n", timeout=5)
            self.assertIn(status_of(raw), (400, 413), raw[:200])
        self.assertTrue(healthy(self.main))

    def test_slowloris_idle_closed(self):
        idle = self.tight.connect()
        partial = self.tight.connect()
        partial.sendall(b"GET /healthz HTTP/1.1\r\n")
        t0 = time.monotonic()
        # another client is served meanwhile
        self.assertTrue(healthy(self.tight))
        for s in (idle, partial):
            self.assertTrue(closed_within(s, t0 + 5), "not closed")
            s.close()
        self.assertTrue(healthy(self.tight))

    def test_slowloris_trickled_headers_closed(self):
        s = self.tight.connect()
        t0 = time.monotonic()
        done = threading.Event()

        def trickle():
            try:
                for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
                    if done.is_set():
                        return
                    s.send(bytes([b]))
                    time.sleep(0.25)
            except OSError:
                pass

        t = threading.Thread(target=trickle, daemon=True)
        t.start()
        self.assertTrue(healthy(self.tight))
        ok = closed_within(s, t0 + 6)
        done.set()
        t.join(2)
        s.close()
        self.assertTrue(ok, "trickling client not closed")
        self.assertLess(time.monotonic() - t0, 6)
        self.assertTrue(healthy(self.tight))

    def test_slow_body_408(self):
        head = (b"POST " + (INVOKE % "echo").encode() + b" HTTP/1.1\r\nHost: x\r\n"
                b"Content-Length: 100\r\n\r\n")
        t0 = time.monotonic()
        raw = self.tight.send_and_read([head] + [b" "] * 20, timeout=8, delay=0.3)
        self.assertEqual(status_of(raw), 408, raw[:200])
        self.assertLess(time.monotonic() - t0, 4)
        json.loads(body_of(raw))
        self.assertTrue(healthy(self.tight))

    def test_big_header_431(self):
        raw = self.main.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " +
                       b"a" * 40000 + b"\r\n\r\n")
        self.assertEqual(status_of(raw), 431, raw[:200])

    def test_big_url_414(self):
        raw = self.main.raw(b"GET /" + b"a" * 40000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(status_of(raw), 414, raw[:200])

    def test_many_headers_431(self):
        hdrs = b"".join(b"X-H%d: v\r\n" % i for i in range(5000))
        raw = self.main.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + hdrs + b"\r\n")
        self.assertEqual(status_of(raw), 431, raw[:200])

    def test_content_length_with_transfer_encoding_400(self):
        raw = self.main.raw(b"POST " + (INVOKE % "counter").encode() + b" HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"2\r\n{}\r\n0\r\n\r\n")
        self.assertEqual(status_of(raw), 400, raw[:200])
        json.loads(body_of(raw))

    def test_two_content_lengths_400(self):
        raw = self.main.raw(b"POST " + (INVOKE % "counter").encode() + b" HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Length: 2\r\nContent-Length: 5\r\n\r\n{}")
        self.assertEqual(status_of(raw), 400, raw[:200])
        json.loads(body_of(raw))

    # chaos D10: forms libmicrohttpd 0.9.75 lets through; a proxy in front
    # may read them as Transfer-Encoding while spur framed by Content-Length
    def test_transfer_encoding_with_a_space_before_the_colon_400(self):
        raw = self.main.raw(b"POST " + (INVOKE % "counter").encode() + b" HTTP/1.1\r\nHost: x\r\n"
                            b"Transfer-Encoding : chunked\r\nContent-Length: 4\r\n\r\n{}\r\n")
        self.assertEqual(status_of(raw), 400, raw[:300])
        self.assertIn("malformed header name", json.loads(body_of(raw))["message"])
        self.assertEqual(raw.count(b"HTTP/1.1 "), 1, raw[:300])

    def test_transfer_encoding_folded_onto_a_second_line_400(self):
        raw = self.main.raw(b"POST " + (INVOKE % "counter").encode() + b" HTTP/1.1\r\nHost: x\r\n"
                            b"Transfer-Encoding:\r\n chunked\r\nContent-Length: 4\r\n\r\n{}\r\n")
        self.assertEqual(status_of(raw), 400, raw[:300])
        json.loads(body_of(raw))

    def test_tls_hello_closed(self):
        hello = bytes.fromhex(
            "16030100c4010000c00303") + os.urandom(32) + bytes.fromhex(
            "000004130113020100009300000010000e00000b6578616d706c652e636f6d")
        raw = self.main.raw(hello + b"\x00" * 64, timeout=5)
        self.assertNotEqual(status_of(raw), 200)
        raw = self.main.raw(os.urandom(4096), timeout=5)
        self.assertTrue(self.main.alive())
        self.assertTrue(healthy(self.main))

    def test_connections_above_limit_refused_cleanly(self):
        socks = []
        try:
            for _ in range(100):
                try:
                    socks.append(self.tight.connect(timeout=5))
                except OSError:
                    pass
            # those above the limit are closed at once: wait until 75 are,
            # while the ones within it are still held (the 1 s idle timeout
            # has not closed them: it is the limit that closed the others)
            closed = set()

            def refused():
                readable, _, _ = select.select([s for s in socks if s not in closed],
                                               [], [], 0)
                for s in readable:
                    try:
                        if s.recv(1, socket.MSG_PEEK) == b"":
                            closed.add(s)
                    except OSError:
                        closed.add(s)
                return len(closed) + (100 - len(socks)) >= 75
            self.assertTrue(wait_for(refused, 5), "%d of 100 closed" % len(closed))
            self.assertLess(len(closed), len(socks), "the ones within the limit were closed too")
        finally:
            for s in socks:
                s.close()

        def served():   # the held ones are released
            try:
                return healthy(self.tight)
            except OSError:
                return False
        self.assertTrue(wait_for(served, 4, 0.1))
        st, h, body = invoke(self.tight, "ok")
        self.assertEqual(st, 200, body)


class JsonInput(Daemons, unittest.TestCase):
    """The JSON table of BAD_INPUTS.md, through the Invoke API."""

    def bad(self, payload):
        st, h, body = invoke(self.main, "ok", payload)
        self.assertEqual(st, 400, (payload[:40], body))
        self.assertEqual(h.get("x-amzn-errortype"), "InvalidRequestContentException")
        doc = json.loads(body)
        self.assertEqual(doc["Type"], "User")
        return doc["message"]

    def test_invalid_json_line_column(self):
        for p in (b'{"a":', b'{"a":1}\n}x', b'\xef\xbb\xbf{}', b"{'a':1}", b"nul"):
            msg = self.bad(p)
            self.assertIn("line", msg)
            self.assertIn("column", msg)

    def test_trailing_garbage(self):
        self.bad(b'{"a":1} x')

    def test_bom(self):
        self.bad(b'\xef\xbb\xbf{"a":1}')

    def test_deep_nesting(self):
        self.bad(b"[" * 100000 + b"]" * 100000)
        st, h, body = invoke(self.main, "ok", b"[" * 2000 + b"]" * 2000)
        self.assertEqual(st, 200, body[:200])
        st, h, body = invoke(self.main, "ok", b'{"a":' * 2000 + b"1" + b"}" * 2000)
        self.assertEqual(st, 200, body[:200])

    def test_bad_text(self):
        for p in (b'{"a":"\xff"}', b'{"a":"\xc0\xaf"}', b'{"a":"\xed\xa0\x80"}',
                  b'{"a":"\\ud800"}', b'{"a":"x\x01y"}', b'{"a":"x\ny"}'):
            self.bad(p)

    def test_bad_numbers(self):
        for p in (b'{"a":1e400}', b'{"a":NaN}', b'{"a":-Infinity}',
                  b'{"a":123456789012345678901234567890}'):
            self.bad(p)


class InvokeApi(Daemons, unittest.TestCase):
    def test_ok(self):
        st, h, body = invoke(self.main, "echo", b'{"k":[1,2,"\xc3\xa9"]}')
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(body), {"k": [1, 2, "\u00e9"]})
        self.assertEqual(h.get("x-amz-executed-version"), "$LATEST")
        self.assertEqual(len(h.get("x-amzn-requestid", "")), 36)
        self.assertTrue(h.get("content-type", "").startswith("application/json"))
        self.assertNotIn("x-amz-function-error", h)

    def test_empty_payload_is_object(self):
        st, h, body = invoke(self.main, "echo", b"")
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(body), {})

    def test_qualified_names(self):
        for name in ("echo:%24LATEST", "arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000"
                     "%3Afunction%3Aecho"):
            st, h, body = invoke(self.main, name, b"[1]")
            self.assertEqual(st, 200, (name, body))
        st, h, body = invoke(self.main, "echo", b"[1]", query="?Qualifier=%24LATEST")
        self.assertEqual(st, 200, body)

    def test_function_error(self):
        st, h, body = invoke(self.main, "boom")
        self.assertEqual(st, 200)
        self.assertEqual(h.get("x-amz-function-error"), "Unhandled")
        doc = json.loads(body)
        self.assertEqual(doc["errorType"], "BoomError")
        self.assertEqual(doc["errorMessage"], "boom")

    def test_unknown_function_404(self):
        st, h, body = invoke(self.main, "nosuchfn")
        self.assertEqual(st, 404)
        self.assertEqual(h.get("x-amzn-errortype"), "ResourceNotFoundException")
        self.assertEqual(json.loads(body)["Type"], "User")
        self.assertIn("x-amzn-requestid", h)

    def test_bad_qualifier_400(self):
        st, h, body = invoke(self.main, "echo", query="?Qualifier=b%40d%21")
        self.assertEqual(st, 400, body)
        json.loads(body)
        self.assertIn("x-amzn-errortype", h)

    def test_invocation_types(self):
        st, h, body = invoke(self.main, "echo", headers={"X-Amz-Invocation-Type": "DryRun"})
        self.assertEqual(st, 204)
        self.assertIn("x-amzn-requestid", h)
        st, h, body = invoke(self.main, "echo", headers={"X-Amz-Invocation-Type": "Bogus"})
        self.assertEqual(st, 400)
        self.assertEqual(h.get("x-amzn-errortype"), "InvalidParameterValueException")
        json.loads(body)

    def test_log_tail(self):
        st, h, body = invoke(self.main, "logger", headers={"X-Amz-Log-Type": "Tail"})
        self.assertEqual(st, 200, body)
        tail = base64.b64decode(h["x-amz-log-result"]).decode("utf-8", "replace")
        self.assertIn("hello-tail", tail)
        st, h, body = invoke(self.main, "logger")
        self.assertNotIn("x-amz-log-result", h)

    def test_wrong_method_and_unknown_path(self):
        st, h, body = self.main.request("GET", INVOKE % "echo")
        self.assertEqual(st, 405)
        json.loads(body)
        st, h, body = self.main.request("GET", "/no/such/path")
        self.assertEqual(st, 404)
        self.assertIn("message", json.loads(body))

    def test_health(self):
        st, h, body = self.main.request("GET", "/healthz")
        self.assertEqual((st, json.loads(body)), (200, {"status": "ok"}))
        st, h, body = self.main.request("GET", "/readyz")
        self.assertIn(st, (200, 503))
        json.loads(body)


class Routes(Daemons, unittest.TestCase):
    def test_event_shape(self):
        st, h, body = self.main.request(
            "POST", "/hooks/a%20b?x=1&y=2&x=3", b'{"hello":1}',
            {"X-Foo": "bar", "Content-Type": "application/json",
             "Cookie": "c1=v1; c2=v2", "User-Agent": "spurtest"})
        self.assertEqual(st, 200, body)
        ev = json.loads(body)
        self.assertEqual(ev["version"], "2.0")
        self.assertEqual(ev["routeKey"], "POST /hooks/{id}")
        self.assertEqual(ev["rawPath"], "/hooks/a%20b")
        self.assertEqual(ev["rawQueryString"], "x=1&y=2&x=3")
        self.assertEqual(ev["pathParameters"], {"id": "a b"})
        self.assertEqual(ev["queryStringParameters"], {"x": "1,3", "y": "2"})
        self.assertEqual(ev["headers"]["x-foo"], "bar")
        self.assertTrue(all(k == k.lower() for k in ev["headers"]))
        self.assertEqual(ev["cookies"], ["c1=v1", "c2=v2"])
        self.assertEqual(ev["body"], '{"hello":1}')
        self.assertIs(ev["isBase64Encoded"], False)
        rc = ev["requestContext"]
        self.assertEqual(rc["http"]["method"], "POST")
        self.assertEqual(rc["http"]["sourceIp"], "127.0.0.1")
        self.assertEqual(rc["http"]["userAgent"], "spurtest")
        self.assertEqual(rc["stage"], "$default")
        self.assertIsInstance(rc["timeEpoch"], int)

    def test_event_text_escaped(self):
        raw = self.main.raw(
            b"POST /hooks/1?a=%FF&b=%22q%5C&b=%0A HTTP/1.1\r\nHost: x\r\n"
            b"Connection: close\r\nX-Bad: \xff\xfe ok \"\\\r\nX-Dup: 1\r\n"
            b"x-dup: 2\r\nContent-Length: 9\r\n\r\n\"t\"\ta\\u\x01\n", timeout=5)
        self.assertEqual(status_of(raw), 200, raw[:300])
        ev = json.loads(body_of(raw))
        self.assertEqual(ev["headers"]["x-bad"], "\ufffd\ufffd ok \"\\")
        self.assertEqual(ev["headers"]["x-dup"], "1,2")
        self.assertEqual(ev["queryStringParameters"], {"a": "\ufffd", "b": "\"q\\,\n"})
        self.assertEqual(ev["body"], '"t"\ta\\u\x01\n')

    def test_greedy_and_specific(self):
        st, h, body = self.main.request("GET", "/items/7/x/a/b/c")
        self.assertEqual(st, 200, body)
        self.assertEqual(json.loads(body)["pathParameters"], {"id": "7", "rest": "a/b/c"})
        st, h, body = self.main.request("GET", "/items/special/x/y")
        self.assertEqual(json.loads(body)["routeKey"], "GET /items/special/x/y")
        st, h, body = self.main.request("GET", "/items/7/x")
        self.assertEqual(st, 404)

    def test_binary_body_base64(self):
        st, h, body = self.main.request("POST", "/hooks/bin", b"\x00\x01\xff\xfe",
                                   {"Content-Type": "application/octet-stream"})
        ev = json.loads(body)
        self.assertIs(ev["isBase64Encoded"], True)
        self.assertEqual(base64.b64decode(ev["body"]), b"\x00\x01\xff\xfe")

    def test_response_mapping(self):
        st, h, body = self.main.request("PUT", "/resp")
        self.assertEqual(st, 201)
        self.assertEqual(h.get("x-a"), "1")
        self.assertEqual(h.get("content-type"), "text/plain")
        self.assertEqual(h.get("set-cookie"), "a=1\nb=2")
        self.assertEqual(body, b"hello")

    def test_non_object_result(self):
        st, h, body = self.main.request("GET", "/num")
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(body), 42)

    def test_function_error_502(self):
        st, h, body = self.main.request("GET", "/boom")
        self.assertEqual(st, 502)
        self.assertEqual(json.loads(body), {"message": "Internal Server Error"})

    def test_async_202(self):
        st, h, body = self.main.request("POST", "/async", b'{"a":1}')
        if st == 501:   # the core serves no Event mode yet: a clean JSON error
            self.assertIn("message", json.loads(body))
            self.skipTest("async invocation not in this build")
        self.assertEqual(st, 202, body)
        self.assertEqual(len(json.loads(body)["eventId"]), 36)

    def test_method_not_allowed(self):
        st, h, body = self.main.request("DELETE", "/hooks/1")
        self.assertEqual(st, 405)
        json.loads(body)



# the same tests on the thread-pool daemons
for _cls in (HttpLimits, JsonInput, InvokeApi, Routes):
    globals()["Pool" + _cls.__name__] = type("Pool" + _cls.__name__, (_cls,),
                                             {"threads": POOL_THREADS})
del _cls

if __name__ == "__main__":
    spurtest.run(__name__)
