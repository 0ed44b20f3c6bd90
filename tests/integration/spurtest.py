# SPDX-License-Identifier: MIT
"""spurtest.py - a small library for integration tests that drive a real
`spur serve` (Python 3 standard library only).

A Spur object writes a temporary directory with spur.yaml and the handler
files, picks a free loopback port, starts `$SPUR serve -c spur.yaml`
(plugins come from the build directory by themselves), waits for
/healthz with a bounded number of short polls, keeps the daemon's stderr
log, and on stop() sends SIGTERM and checks that the exit code is 0.
Helpers send requests with http.client or as raw bytes on a socket.
"""
import atexit
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SPUR = os.environ.get("SPUR", "")


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

    def _read_log(self):
        for line in iter(self.proc.stdout.readline, b""):
            with self._log_lock:
                self._log.append(line.decode("utf-8", "replace"))

    def log(self):
        with self._log_lock:
            return "".join(self._log)

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
