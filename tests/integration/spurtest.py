# SPDX-License-Identifier: MIT
"""spurtest.py - a small library for integration tests that drive a real
`spur serve` (Python 3 standard library only).

A Spur object writes a temporary directory with spur.yaml and the handler
files, picks a free loopback port, starts `$SPUR serve -c spur.yaml`
(plugins come from the build directory by themselves), waits for
/healthz with a bounded number of short polls, keeps the daemon's stderr
log, and on stop() sends SIGTERM and checks that the exit code is 0.
Helpers send requests with http.client or as raw bytes on a socket.

The other helpers are shared by the test files: waiting for a condition
(wait_for), for spur to have nothing left to do (wait_quiet, stays_zero:
the barrier before asserting that something did not happen), for an
async event's end (wait_event); /metrics samples (metrics, metric);
records of file:// destinations (read_records, records, records_for);
handler runs counted from the log (runs); Event invokes (send_event,
accept_event); admin queue counts and messages (queues, depth,
messages); an HTTP receiver for http:// destinations (Receiver); the
AWS CLI's environment (aws_env); mosquitto (Mosquitto).
"""
import atexit
import http.client
import http.server
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SPUR = os.environ.get("SPUR", "")
INVOKE = "/2015-03-31/functions/%s/invocations"
EVENT = {"X-Amz-Invocation-Type": "Event", "Content-Type": "application/json"}


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on (right now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Spur:
    """One `spur serve` with its own config and state directory.

    config: the YAML text; "{port}" and "{dir}" in it are replaced.
    files:  {relative path: text} written beside spur.yaml (handlers).
    """

    def __init__(self, config, files=None, name="spur", env=None):
        if not SPUR:
            raise RuntimeError("set SPUR to the spur binary")
        self.dir = tempfile.mkdtemp(prefix="spurtest-%s-" % name)
        self.port = free_port()
        self.name = name
        self.env = env
        for rel, text in (files or {}).items():
            path = os.path.join(self.dir, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        self.config_path = os.path.join(self.dir, "spur.yaml")
        with open(self.config_path, "w") as f:
            f.write(config.replace("{port}", str(self.port)).replace("{dir}", self.dir))
        self.proc = None
        self._log = []
        self._log_lock = threading.Lock()
        self._reader = None

    # -- life cycle ------------------------------------------------------
    def start(self, tries=100, interval=0.05):
        """Start (or start again, on the same directory and port)."""
        env = None
        if self.env:
            env = dict(os.environ)
            env.update(self.env)
        self.proc = subprocess.Popen(
            [SPUR, "serve", "-c", self.config_path],
            cwd=self.dir, stdin=subprocess.DEVNULL, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        atexit.register(self._kill)
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()
        for _ in range(tries):
            if self.proc.poll() is not None:
                break
            try:
                status, _, _ = self.request("GET", "/healthz", timeout=1)
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(interval)
        self.proc.kill()
        self.proc.wait()
        self._reader.join(2)
        raise RuntimeError("spur did not become healthy (exit %s); log:\n%s"
                           % (self.proc.returncode, self.log()))

    def _kill(self):
        """At exit: never leave a daemon behind after a failed test."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def _drain(self):
        """Read what the pipe holds now (lock held). False at EOF."""
        fd = self.proc.stdout.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not chunk:
                return False
            self._log.append(chunk)

    def _read_log(self):
        # The thread keeps the pipe from filling up (spur would block on
        # it); log() drains it too, under the same lock, so a line spur
        # wrote before answering a request is always in log() after it.
        os.set_blocking(self.proc.stdout.fileno(), False)
        fd = self.proc.stdout.fileno()
        while True:
            select.select([fd], [], [], 0.2)
            with self._log_lock:
                if not self._drain():
                    return

    def log(self):
        with self._log_lock:
            if self.proc is not None and self.proc.stdout and not self.proc.stdout.closed:
                self._drain()
            return b"".join(self._log).decode("utf-8", "replace")

    def settled_log(self):
        """The log with everything spur has written so far (log() drains
        the pipe itself, so this is log(); kept for readability)."""
        return self.log()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        """SIGKILL the daemon (a crash), wait for it, and keep the
        directory: start() runs it again on the same state and port."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        if self._reader:
            self._reader.join(5)
        return self.proc.returncode

    def write_config(self, config):
        """Replace spur.yaml ("{port}" and "{dir}" as in the constructor);
        takes effect at the next start()."""
        with open(self.config_path, "w") as f:
            f.write(config.replace("{port}", str(self.port)).replace("{dir}", self.dir))

    def stop(self, timeout=30, keep=False):
        """SIGTERM, wait, and return the exit code (expected 0).
        keep: leave the directory for another start()."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("spur did not exit within %ss of SIGTERM" % timeout)
        if self._reader:
            self._reader.join(5)
        rc = self.proc.returncode
        if rc == 0 and not keep and not os.environ.get("SPURTEST_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
        return rc

    # -- clients -----------------------------------------------------------
    def request(self, method, path, body=None, headers=None, timeout=10):
        """(status, {lower-case header: value}, body bytes)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            if isinstance(body, str):
                body = body.encode()
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            hdrs = {}
            for k, v in r.getheaders():
                k = k.lower()
                hdrs[k] = hdrs[k] + "\n" + v if k in hdrs else v
            return r.status, hdrs, data
        finally:
            c.close()

    def admin_token(self):
        """The admin token this daemon wants, or None: spur reads
        $SPUR_ADMIN_TOKEN of its environment (the test's, with `env` over
        it); without one, loopback clients need none."""
        token = (self.env or {}).get("SPUR_ADMIN_TOKEN", os.environ.get("SPUR_ADMIN_TOKEN"))
        return token or None

    def admin(self, method, path, body=None, timeout=10):
        """An admin API call with the token, if any: (status, parsed
        JSON body or None)."""
        token = self.admin_token()
        headers = {"Authorization": "Bearer " + token} if token else {}
        if body is not None and not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        status, _, data = self.request(method, path, body, headers=headers, timeout=timeout)
        try:
            return status, json.loads(data) if data.strip() else None
        except ValueError:
            return status, None

    def connect(self, timeout=10):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        s.settimeout(timeout)
        return s

    def raw(self, data, timeout=10):
        """Send bytes, read until the server closes (or timeout)."""
        s = self.connect(timeout)
        try:
            try:
                s.sendall(data)
            except OSError:
                pass
            return read_all(s, timeout)
        finally:
            s.close()

    def send_and_read(self, pieces, timeout=10, delay=0.0):
        """Send pieces from a thread (errors ignored: the server may
        answer and close early) while reading the answer here."""
        s = self.connect(timeout)

        def sender():
            try:
                for p in pieces:
                    s.sendall(p)
                    if delay:
                        time.sleep(delay)
            except OSError:
                pass

        t = threading.Thread(target=sender, daemon=True)
        t.start()
        try:
            return read_all(s, timeout)
        finally:
            s.close()
            t.join(timeout)


def wait_for(predicate, timeout=10.0, interval=0.02):
    """Poll predicate() until it returns something true or the deadline
    passes; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# -- metrics -------------------------------------------------------------------
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metrics(spur):
    """The samples of one GET /metrics: {(name, frozenset of (label,
    value) pairs): value} (a small Prometheus text parser; test_metrics.py
    checks the format with the official one)."""
    status, _, data = spur.request("GET", "/metrics")
    assert status == 200, "GET /metrics: %d" % status
    out = {}
    for line in data.decode("utf-8", "replace").splitlines():
        m = _SAMPLE.match(line)
        if not m or line.startswith("#"):
            continue
        labels = frozenset((k, re.sub(r"\\(.)", r"\1", v))
                           for k, v in _LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def total(samples, name, **labels):
    """The sum of the samples of name whose labels include labels (0 when
    there is none)."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def metric(spur, name, **labels):
    """total() of one scrape."""
    return total(metrics(spur), name, **labels)


# -- barriers: "nothing more happens" --------------------------------------------
def quiet(spur, samples=None):
    """True when spur has nothing left to do for what it has accepted: no
    async event is stored (queued, running or waiting for its retry:
    spur_queue_depth{queue="async"}), no record waits for its destination
    (spur_queue_depth{queue="outbox"}) and no invocation runs
    (spur_concurrent_executions). One scrape."""
    s = samples if samples is not None else metrics(spur)
    return (total(s, "spur_queue_depth", queue="async") == 0 and
            total(s, "spur_queue_depth", queue="outbox") == 0 and
            total(s, "spur_concurrent_executions") == 0)


def wait_quiet(spur, timeout=15.0):
    """The barrier before asserting that nothing more happened (no
    duplicate, no retry): wait until quiet(spur). An event leaves the
    async queue in the same store write that puts its records into the
    outbox, and a record leaves the outbox only after its destination took
    it (a file is fsynced, an HTTP receiver answered, the MQTT broker
    acknowledged) or it was given up; so once spur is quiet, every event
    it had stored has ended and every record of it is out: a retry or a
    duplicate of it would have come before. Messages of a broker that spur
    has not received yet are not covered: send a sentinel after them.
    Fails the test (AssertionError with the log's tail) after timeout."""
    if not wait_for(lambda: quiet(spur), timeout, 0.02):
        s = metrics(spur)
        raise AssertionError(
            "spur not quiet within %ss (async %d, outbox %d, running %d); log:\n%s"
            % (timeout, total(s, "spur_queue_depth", queue="async"),
               total(s, "spur_queue_depth", queue="outbox"),
               total(s, "spur_concurrent_executions"), spur.log()[-3000:]))


def stays_zero(spur, count, timeout=15.0):
    """For something that must not happen: True when count() is 0 once
    spur is quiet (wait_quiet), False as soon as it is not 0. A refused
    synchronous request needs nothing more: its handler would have run
    before the answer, and a line spur logged before answering is in
    spur.log() after it. A refused async request would have been stored
    before its answer, and quiet means that whatever was stored has run."""
    def settled():
        if count():
            return "ran"
        return quiet(spur) and "quiet"
    state = wait_for(settled, timeout, 0.02)
    if not state:
        wait_quiet(spur, 0)    # raises, with the counts
    return state == "quiet" and count() == 0


def wait_event(spur, eid, timeout=15.0):
    """GET /admin/events/eid once the async event has ended (state
    "done"): {"state", "condition", "attempts", "record", ...}. Fails the
    test after timeout."""
    def done():
        status, ev = spur.admin("GET", "/admin/events/%s" % eid)
        return ev if status == 200 and ev and ev.get("state") == "done" else None
    ev = wait_for(done, timeout, 0.02)
    if not ev:
        raise AssertionError("event %s not done within %ss: %r; log:\n%s"
                             % (eid, timeout, spur.admin("GET", "/admin/events/%s" % eid),
                                spur.log()[-3000:]))
    return ev


# -- records, runs, events ----------------------------------------------------------
def read_records(path):
    """(records, torn lines) of a JSON-lines file of a file:// destination
    (none while the file does not exist). A last line without its newline
    is still being written: it is left for the next read. A line that is
    not JSON (torn by kill -9) is counted."""
    records, torn = [], 0
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return records, torn
    for line in data.split(b"\n")[:-1]:
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError:
            torn += 1
    return records, torn


def records(path):
    """The records of a file:// destination; a torn line fails the test."""
    recs, torn = read_records(path)
    assert torn == 0, "%d torn line(s) in %s" % (torn, path)
    return recs


def records_for(path, eid):
    """The records of event eid (requestContext.requestId) in path."""
    return [r for r in read_records(path)[0]
            if r.get("requestContext", {}).get("requestId") == eid]


def runs(spur, tag):
    """How many times a handler logged "RAN <tag>" through ctx.log."""
    return len(re.findall(r"\bRAN\s+%s(?:\s|$)" % re.escape(tag), spur.log(), re.M))


def send_event(spur, fn, payload, timeout=10):
    """An Event invoke of fn (payload: bytes, str or JSON-able):
    (status, headers, body)."""
    body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
    return spur.request("POST", INVOKE % fn, body, headers=EVENT, timeout=timeout)


def accept_event(spur, fn, payload):
    """An Event invoke that must be accepted (202): its event id."""
    status, hdrs, body = send_event(spur, fn, payload)
    assert status == 202, "Event invoke of %s: %d %r" % (fn, status, body[:300])
    eid = hdrs.get("x-amzn-requestid")
    assert eid, "202 without x-amzn-RequestId: %r" % hdrs
    return eid


# -- the admin API's queues ----------------------------------------------------------
def queues(spur):
    """GET /admin/queues as {name: {"visible", "delayed", "inFlight", ...}}."""
    status, body = spur.admin("GET", "/admin/queues")
    assert status == 200, "GET /admin/queues: %d %r" % (status, body)
    return {q["name"]: q for q in body}


def depth(spur, name):
    """Messages the queue holds: visible, and delayed or in flight."""
    q = queues(spur)[name]
    return q["visible"] + q["delayed"]


def messages(spur, name, n=1000):
    """GET /admin/queues/NAME/messages: the first n messages, not removed."""
    status, body = spur.admin("GET", "/admin/queues/%s/messages?n=%d" % (name, n))
    assert status == 200, "messages of %s: %d %r" % (name, status, body)
    return body


# -- an HTTP receiver for http:// destinations ----------------------------------------
class Receiver:
    """An http.server on a free loopback port that records every POST
    ({"path", "body", "headers" (lower-case), "time"}) and answers from a
    plan: {path: [status, ...]}, one status per request to that path, the
    last one repeated; 200 when the path has no plan."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.plan = {}
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with receiver.lock:
                    receiver.requests.append({
                        "path": self.path, "body": body, "time": time.time(),
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                    })
                    plan = receiver.plan.get(self.path, [200])
                    status = plan.pop(0) if len(plan) > 1 else plan[0]
                answer = b'{"received": true}' if status < 300 else b'{"error": "planned"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def for_event(self, eid, path=None):
        """Requests (to path, if given) whose record is about event eid;
        a structured CloudEvent's record is its data."""
        out = []
        with self.lock:
            reqs = list(self.requests)
        for r in reqs:
            if path is not None and r["path"] != path:
                continue
            try:
                doc = json.loads(r["body"])
            except ValueError:
                continue
            rec = doc.get("data", doc) if isinstance(doc, dict) else {}
            if isinstance(rec, dict) and rec.get("requestContext", {}).get("requestId") == eid:
                out.append(r)
        return out

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def aws_env():
    """The environment for /usr/bin/aws against spur: fixed credentials
    and region, no config files, no pager, no admin token."""
    env = dict(os.environ)
    env.update({
        "AWS_ACCESS_KEY_ID": "spur", "AWS_SECRET_ACCESS_KEY": "spur",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_PAGER": "",
    })
    env.pop("SPUR_ADMIN_TOKEN", None)
    return env


def read_all(s, timeout):
    """Bytes until EOF, a reset or the deadline."""
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    return out


def status_of(raw):
    """The status code of a raw HTTP response, or None."""
    try:
        line = raw.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split(" ")
        if parts[0].startswith("HTTP/"):
            return int(parts[1])
    except (ValueError, IndexError):
        pass
    return None


def body_of(raw):
    return raw.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in raw else b""


def run(module_name):
    """Run a unittest module, print 'N passed, N failed' and exit."""
    import unittest
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[module_name])
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed - len(result.skipped)
    line = "%d passed, %d failed" % (passed, failed)
    if result.skipped:
        line += ", %d skipped" % len(result.skipped)
    print(line, flush=True)
    sys.exit(1 if failed or not result.testsRun else 0)


MOSQUITTO = os.environ.get("MOSQUITTO", "/usr/sbin/mosquitto")


class Mosquitto:
    """A real mosquitto broker on a free loopback port, with a config file
    generated in its own temporary directory (no persistence, unlimited
    queues for offline persistent sessions, `extra` lines appended).
    start() waits until the port accepts connections; kill() is a crash
    (SIGKILL), stop() a SIGTERM; start() again reuses the port.
    Clients: pub() runs mosquitto_pub, sub() starts mosquitto_sub."""

    def __init__(self, extra="", name="mosquitto"):
        self.dir = tempfile.mkdtemp(prefix="spurtest-%s-" % name)
        self.port = free_port()
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        with open(self.conf, "w") as f:
            f.write("listener %d 127.0.0.1\n" % self.port)
            f.write("persistence false\nmax_queued_messages 0\nmax_inflight_messages 0\n")
            f.write("log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n")
            if os.geteuid() == 0:
                f.write("user root\n")     # else it drops to `mosquitto`, who cannot read our dir
            if "password_file" not in extra:
                f.write("allow_anonymous true\n")
            f.write(extra.replace("{dir}", self.dir))
        self.proc = None
        self.log_path = os.path.join(self.dir, "mosquitto.log")

    @staticmethod
    def available():
        return (os.access(MOSQUITTO, os.X_OK) and shutil.which("mosquitto_pub")
                and shutil.which("mosquitto_sub"))

    def start(self, timeout=5.0):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", self.conf], stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=log)
        log.close()
        atexit.register(self._kill)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("mosquitto did not start; log:\n" + self.log())

    def _kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def kill(self):
        self._kill()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self._kill()

    def cleanup(self):
        self.stop()
        if not os.environ.get("SPURTEST_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def url(self):
        return "mqtt://127.0.0.1:%d" % self.port

    def pub(self, topic, message=None, qos=1, args=(), stdin=None, timeout=30):
        """mosquitto_pub (MQTT 5); message bytes or str, or lines on stdin
        with args=("-l",). Returns the CompletedProcess (check=True)."""
        cmd = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-V", "mqttv5",
               "-q", str(qos), "-t", topic] + list(args)
        if message is not None:
            if isinstance(message, str):
                message = message.encode()
            if b"\0" in message or len(message) > 65536:
                stdin, cmd = message, cmd + ["-s"]
            else:
                cmd += ["-m", message]
        return subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout, check=True)

    def sub(self, topic, args=(), fmt=None):
        """Start mosquitto_sub (MQTT 5, QoS 1, -d so that 'SUBACK' in its
        output says it is subscribed); returns a MosquittoSub."""
        # line-buffered stdout (stdbuf), so that lines arrive as they happen
        cmd = (["stdbuf", "-oL"] if shutil.which("stdbuf") else []) + [
               "mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.port), "-V", "mqttv5",
               "-q", "1", "-t", topic, "-d"] + list(args)
        if fmt:
            cmd += ["-F", fmt]
        return MosquittoSub(cmd)


class MosquittoSub:
    """A running mosquitto_sub; lines() are the messages printed so far
    (the -d debug lines left out)."""

    def __init__(self, cmd):
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        atexit.register(self.stop)
        self._out = []
        self._debug = []
        self._lock = threading.Lock()
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self):
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._lock:
                if (line.startswith("Client ") and (" received " in line or " sending " in line)) \
                        or line.startswith("Subscribed (mid"):
                    self._debug.append(line)
                else:
                    self._out.append(line)

    def subscribed(self, timeout=5.0):
        def ok():
            with self._lock:
                return any("SUBACK" in d for d in self._debug)
        return wait_for(ok, timeout)

    def lines(self):
        with self._lock:
            return list(self._out)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._t.join(2)
        return self.lines()


def build_dir():
    """The meson build directory of the spur binary under test."""
    d = os.path.dirname(os.path.abspath(SPUR))
    while d != "/" and not os.path.isdir(os.path.join(d, "meson-private")):
        d = os.path.dirname(d)
    return d if d != "/" else os.path.dirname(os.path.abspath(SPUR))


def npm_package(module, spec):
    """(node, directory) with the npm package `spec` installed under the
    build directory (once; reused by later runs). Raises unittest.SkipTest
    with the reason when node, npm or the registry is not available."""
    import shutil
    import unittest
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        raise unittest.SkipTest("node or npm not installed: npm %s interop not run" % module)
    d = os.path.join(build_dir(), "tests", "integration", "npm-" + module)
    os.makedirs(d, exist_ok=True)
    if not os.path.isdir(os.path.join(d, "node_modules", module)):
        try:
            p = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--no-save",
                                "--prefix", d, spec],
                               capture_output=True, timeout=180, stdin=subprocess.DEVNULL)
            ok = p.returncode == 0
            why = (p.stderr or p.stdout).decode(errors="replace")[-500:]
        except (OSError, subprocess.TimeoutExpired) as e:
            ok, why = False, str(e)
        if not ok or not os.path.isdir(os.path.join(d, "node_modules", module)):
            raise unittest.SkipTest("npm install %s failed: interop not run: %s" % (module, why))
    return node, d
