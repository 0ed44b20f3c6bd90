#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_versions.py - versions, aliases, concurrency and hot reload through
the Lambda management API (SPEC 1, 3, 4.1, 4.3; issue "Versions, aliases and
concurrency"), driven with the Debian AWS CLI (/usr/bin/aws), raw HTTP and
the `spur publish | alias | versions` commands against a real `spur serve`.

Checked: publishing twice without a change gives one version; an edit on
disk plus POST /admin/reload and a publish give version 2 while version 1
still runs the old code; a 0.25 weighted alias splits 1,000 invokes 75/25
(+-4 points) by X-Amz-Executed-Version; an async event through a weighted
alias runs one version on every attempt; Lambda's error names and statuses
for bad aliases, conflicts and preconditions; the read/update/delete calls;
reserved concurrency 0 throttles (429); provisioned concurrency keeps an
alias shift free of cold starts (no "Init Duration" in REPORT lines of the
request path); event invoke config; admin auth with a token; a reload with
a Lua syntax error is refused and the old code keeps answering.
Python 3 standard library only (plus /usr/bin/aws, skipped when missing).
"""
import base64
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spurtest  # noqa: E402
from spurtest import INVOKE, aws_env, wait_for  # noqa: E402

AWS = shutil.which("aws") or "/usr/bin/aws"
HAVE_AWS = os.path.exists(AWS)
FUNCS = "/2015-03-31/functions"

APP = """CODE = '%s'
function handle(event, ctx)
  ctx.log('RUN', ctx.function_version, CODE)
  return { code = CODE, version = ctx.function_version }
end
"""
FLAKY = """-- %s
function handle(event, ctx)
  ctx.log('ATTEMPT', ctx.attempt, 'VER', ctx.function_version)
  if ctx.attempt < 2 then
    error({ errorType = 'Flaky', errorMessage = 'attempt ' .. ctx.attempt })
  end
  return { attempt = ctx.attempt }
end
"""
OK = """function handle(event, ctx)
  return { ok = true }
end
"""
# A slow INIT makes a cold start plain in the REPORT line.
PC = """-- %s
local t = spur.now()
while spur.now() - t < 0.05 do end
function handle(event, ctx)
  return { version = ctx.function_version }
end
"""

CONFIG = """state_dir: {dir}/var
http: { listen: "127.0.0.1:{port}" }
store: { sync: normal }
functions:
  app:
    runtime: lua
    code: app.lua
    env: { GREETING: "hi" }
  flaky:
    runtime: lua
    code: flaky.lua
    async: { max_retries: 2, backoff: { base: 100ms, factor: 2, cap: 1s } }
  thr:
    runtime: lua
    code: ok.lua
  pc:
    runtime: lua
    code: pc.lua
"""

TOKEN_CONFIG = """state_dir: {dir}/var
http: { listen: "127.0.0.1:{port}" }
admin: { token_env: SPUR_TEST_ADMIN_TOKEN }
functions:
  app:
    runtime: lua
    code: app.lua
"""


class Versions(unittest.TestCase):
    """One daemon; the tests run in name order and build on each other."""

    @classmethod
    def setUpClass(cls):
        cls.spur = spurtest.Spur(CONFIG, {
            "app.lua": APP % "one", "flaky.lua": FLAKY % "v1", "ok.lua": OK,
            "pc.lua": PC % "v1",
        }, name="versions").start()
        cls.url = "http://127.0.0.1:%d" % cls.spur.port

    @classmethod
    def tearDownClass(cls):
        rc = cls.spur.stop()
        assert rc == 0, "spur exited %d; log:\n%s" % (rc, cls.spur.log()[-4000:])

    # -- helpers -----------------------------------------------------------------
    def aws(self, *args, ok=True):
        """Run `aws lambda ARGS`: (exit code, parsed stdout or None, stderr)."""
        if not HAVE_AWS:
            self.skipTest("no %s" % AWS)
        p = subprocess.run([AWS, "--endpoint-url", self.url, "--output", "json",
                            "lambda"] + list(args), env=aws_env(),
                           capture_output=True, text=True, timeout=60)
        out = json.loads(p.stdout) if p.stdout.strip() else None
        if ok:
            self.assertEqual(p.returncode, 0, "aws lambda %s: %s%s" % (
                " ".join(args), p.stderr, self.spur.log()[-2000:]))
        return p.returncode, out, p.stderr

    def aws_error(self, name, *args):
        rc, _, err = self.aws(*args, ok=False)
        self.assertNotEqual(rc, 0, "aws lambda %s succeeded" % " ".join(args))
        self.assertIn("(%s)" % name, err, "aws lambda %s" % " ".join(args))
        return err

    def api(self, method, path, body=None, headers=None):
        """Raw management call: (status, headers, parsed body or None)."""
        if body is not None and not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        status, hdrs, data = self.spur.request(method, path, body, headers=headers)
        return status, hdrs, json.loads(data) if data.strip() else None

    def write(self, rel, text):
        with open(os.path.join(self.spur.dir, rel), "w") as f:
            f.write(text)

    def reload(self):
        status, _, body = self.spur.request("POST", "/admin/reload", timeout=30)
        self.assertEqual(status, 200, "reload: %s\n%s" % (body, self.spur.log()[-3000:]))

    def invoke(self, target, payload=b"{}", headers=None):
        status, hdrs, body = self.spur.request("POST", INVOKE % target, payload,
                                               headers=headers or {})
        return status, hdrs, json.loads(body) if body.strip() else None

    def publish(self, fn, **body):
        status, _, out = self.api("POST", "%s/%s/versions" % (FUNCS, fn), body)
        self.assertEqual(status, 201, out)
        return out["Version"]

    def spur_cli(self, *args, env=None):
        e = dict(os.environ)
        e.pop("SPUR_ADMIN_TOKEN", None)
        e.update(env or {})
        return subprocess.run([spurtest.SPUR] + list(args), capture_output=True, text=True,
                              timeout=30, env=e)

    # -- publishing and reload ------------------------------------------------------
    def test_01_publish_twice_without_change_is_one_version(self):
        rc, v1, _ = self.aws("publish-version", "--function-name", "app")
        self.assertEqual(v1["Version"], "1")
        self.assertTrue(v1["FunctionArn"].endswith(":function:app:1"), v1)
        for key in ("FunctionName", "Runtime", "Role", "Handler", "CodeSize", "Timeout",
                    "MemorySize", "LastModified", "CodeSha256", "RevisionId", "State",
                    "PackageType"):
            self.assertIn(key, v1)
        self.assertEqual(v1["Runtime"], "lua5.4")
        self.assertEqual(v1["State"], "Active")
        self.assertEqual(v1["Environment"], {"Variables": {"GREETING": "hi"}})
        self.assertRegex(v1["LastModified"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
        rc, again, _ = self.aws("publish-version", "--function-name", "app")
        self.assertEqual(again["Version"], "1")
        self.assertEqual(again["CodeSha256"], v1["CodeSha256"])
        rc, lst, _ = self.aws("list-versions-by-function", "--function-name", "app")
        self.assertEqual([v["Version"] for v in lst["Versions"]], ["$LATEST", "1"])

    def test_02_reload_publish_and_old_version_runs_old_code(self):
        self.write("app.lua", APP % "two")
        self.reload()
        status, _, out = self.invoke("app")
        self.assertEqual((status, out["code"]), (200, "two"))
        rc, v2, _ = self.aws("publish-version", "--function-name", "app",
                             "--description", "second")
        self.assertEqual(v2["Version"], "2")
        self.assertEqual(v2["Description"], "second")
        # version 1 still runs the old code, also with the AWS CLI's --qualifier
        out_path = os.path.join(self.spur.dir, "out1.json")
        rc, meta, _ = self.aws("invoke", "--function-name", "app", "--qualifier", "1", out_path)
        self.assertEqual(meta["ExecutedVersion"], "1")
        with open(out_path) as f:
            self.assertEqual(json.load(f), {"code": "one", "version": "1"})
        status, hdrs, out = self.invoke("app:2")
        self.assertEqual((status, out["code"], hdrs["x-amz-executed-version"]), (200, "two", "2"))
        # editing the file on disk never changes a published version
        self.write("app.lua", APP % "three")
        status, hdrs, out = self.invoke("app:1")
        self.assertEqual(out["code"], "one")
        self.write("app.lua", APP % "two")

    def test_03_publish_preconditions(self):
        err = self.aws_error("PreconditionFailedException", "publish-version",
                             "--function-name", "app", "--revision-id", "not-the-revision")
        err = self.aws_error("PreconditionFailedException", "publish-version",
                             "--function-name", "app", "--code-sha256", "bm90IHRoZSBzaGE=")
        status, hdrs, out = self.api("POST", FUNCS + "/app/versions",
                                     {"CodeSha256": "bm90IHRoZSBzaGE="})
        self.assertEqual(status, 412)
        self.assertEqual(hdrs.get("x-amzn-errortype"), "PreconditionFailedException")
        self.assertEqual(out["Type"], "User")
        self.assertIn("message", out)
        # the right ones publish (nothing changed: the last version)
        _, lst, _ = self.aws("list-versions-by-function", "--function-name", "app")
        v2 = lst["Versions"][-1]
        self.assertEqual(v2["Version"], "2")
        _, v, _ = self.aws("publish-version", "--function-name", "app", "--code-sha256",
                           v2["CodeSha256"])
        self.assertEqual(v["Version"], "2")

    # -- weighted aliases --------------------------------------------------------------
    def test_04_weighted_alias_splits_75_25(self):
        rc, alias, _ = self.aws("create-alias", "--function-name", "app", "--name", "live",
                                "--function-version", "1", "--routing-config",
                                '{"AdditionalVersionWeights": {"2": 0.25}}')
        self.assertEqual(alias["Name"], "live")
        self.assertEqual(alias["FunctionVersion"], "1")
        self.assertEqual(alias["RoutingConfig"], {"AdditionalVersionWeights": {"2": 0.25}})
        self.assertTrue(alias["AliasArn"].endswith(":function:app:live"), alias)
        self.assertTrue(alias["RevisionId"])
        counts = {}
        c = http.client.HTTPConnection("127.0.0.1", self.spur.port, timeout=10)
        try:
            for i in range(1000):
                c.request("POST", INVOKE % "app:live", b'{"i": %d}' % i)
                r = c.getresponse()
                body = json.loads(r.read())
                self.assertEqual(r.status, 200, body)
                v = r.getheader("X-Amz-Executed-Version")
                self.assertEqual(body["version"], v)
                self.assertEqual(body["code"], {"1": "one", "2": "two"}[v])
                counts[v] = counts.get(v, 0) + 1
        finally:
            c.close()
        self.assertEqual(set(counts), {"1", "2"}, counts)
        # 1000 independent picks at p = 0.25: sigma = 1.37 points; +-5 sigma
        # (a false failure once in ~3 million runs; +-4 points failed in CI)
        share = counts["2"] / 10.0
        self.assertTrue(18.2 <= share <= 31.8, "version 2 got %.1f%% (%r)" % (share, counts))

    def test_05_async_retries_keep_one_version(self):
        self.publish("flaky")
        self.write("flaky.lua", FLAKY % "v2")
        self.reload()
        self.assertEqual(self.publish("flaky"), "2")
        self.aws("create-alias", "--function-name", "flaky", "--name", "w",
                 "--function-version", "1", "--routing-config",
                 '{"AdditionalVersionWeights": {"2": 0.5}}')
        eids = []
        for i in range(12):
            status, hdrs, _ = self.spur.request(
                "POST", INVOKE % "flaky:w", json.dumps({"i": i}),
                headers={"X-Amz-Invocation-Type": "Event"})
            self.assertEqual(status, 202)
            eids.append(hdrs["x-amzn-requestid"])

        def runs(eid):
            return re.findall(re.escape(eid) + r".*?ATTEMPT\s+(\d+)\s+VER\s+(\S+)",
                              self.spur.log())

        wait_for(lambda: all(len(runs(e)) >= 2 for e in eids), 20)
        seen = set()
        for eid in eids:
            r = runs(eid)
            self.assertGreaterEqual(len(r), 2, "event %s: %r\n%s" % (eid, r,
                                                                      self.spur.log()[-3000:]))
            self.assertEqual([int(a) for a, _ in r][:2], [1, 2])
            versions = {v for _, v in r}
            self.assertEqual(len(versions), 1, "event %s ran %r" % (eid, r))
            self.assertIn(versions.pop(), ("1", "2"))
            seen |= {v for _, v in r}
        self.assertEqual(seen, {"1", "2"}, "12 events at 0.5 all ran one version")

    # -- errors ------------------------------------------------------------------------
    def test_06_alias_errors(self):
        self.aws_error("InvalidParameterValueException", "create-alias", "--function-name",
                       "app", "--name", "bad", "--function-version", "$LATEST",
                       "--routing-config", '{"AdditionalVersionWeights": {"2": 0.25}}')
        self.aws_error("ValidationException", "create-alias", "--function-name", "app",
                       "--name", "123", "--function-version", "1")
        self.aws_error("ValidationException", "create-alias", "--function-name", "app",
                       "--name", "heavy", "--function-version", "1", "--routing-config",
                       '{"AdditionalVersionWeights": {"2": 1.5}}')
        self.aws_error("ResourceNotFoundException", "create-alias", "--function-name", "app",
                       "--name", "ghost", "--function-version", "99")
        self.aws_error("ResourceConflictException", "create-alias", "--function-name", "app",
                       "--name", "live", "--function-version", "2")
        self.aws_error("ResourceConflictException", "delete-function", "--function-name",
                       "app", "--qualifier", "1")
        self.aws_error("ResourceNotFoundException", "get-function", "--function-name", "nope")
        self.aws_error("InvalidParameterValueException", "delete-function",
                       "--function-name", "app")
        # raw: statuses, the header and the body shape
        for body, status, name in (
                ({"Name": "7", "FunctionVersion": "1"}, 400, "ValidationException"),
                ({"Name": "live", "FunctionVersion": "1"}, 409, "ResourceConflictException"),
                ({"Name": "x", "FunctionVersion": "$LATEST",
                  "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.5}}}, 400,
                 "InvalidParameterValueException"),
                ({"Name": "x", "FunctionVersion": "1",
                  "RoutingConfig": {"AdditionalVersionWeights": {"2": 1.5}}}, 400,
                 "ValidationException"),
                ({"Name": "x", "FunctionVersion": "42"}, 404, "ResourceNotFoundException")):
            st, hdrs, out = self.api("POST", FUNCS + "/app/aliases", body)
            self.assertEqual((st, hdrs.get("x-amzn-errortype")), (status, name), out)
            self.assertEqual(out["Type"], "User")
            self.assertTrue(out["message"])
        st, hdrs, out = self.api("DELETE", FUNCS + "/app?Qualifier=1")
        self.assertEqual((st, hdrs.get("x-amzn-errortype")), (409, "ResourceConflictException"))
        # nothing was made by the failures
        _, lst, _ = self.aws("list-aliases", "--function-name", "app")
        self.assertEqual(sorted(a["Name"] for a in lst["Aliases"]), ["live"])

    def test_07_alias_read_update_delete(self):
        _, a, _ = self.aws("get-alias", "--function-name", "app", "--name", "live")
        self.assertEqual(a["FunctionVersion"], "1")
        self.aws_error("PreconditionFailedException", "update-alias", "--function-name", "app",
                       "--name", "live", "--function-version", "2", "--revision-id", "stale")
        _, u, _ = self.aws("update-alias", "--function-name", "app", "--name", "live",
                           "--function-version", "2", "--description", "all on two",
                           "--routing-config", '{"AdditionalVersionWeights": {}}',
                           "--revision-id", a["RevisionId"])
        self.assertEqual((u["FunctionVersion"], u["Description"]), ("2", "all on two"))
        self.assertFalse(u.get("RoutingConfig", {}).get("AdditionalVersionWeights"))
        self.assertNotEqual(u["RevisionId"], a["RevisionId"])
        status, hdrs, out = self.invoke("app:live")
        self.assertEqual((hdrs["x-amz-executed-version"], out["code"]), ("2", "two"))
        self.aws("create-alias", "--function-name", "app", "--name", "tmp",
                 "--function-version", "1")
        _, lst, _ = self.aws("list-aliases", "--function-name", "app")
        self.assertEqual(sorted(a["Name"] for a in lst["Aliases"]), ["live", "tmp"])
        _, lst, _ = self.aws("list-aliases", "--function-name", "app", "--function-version", "1")
        self.assertEqual([a["Name"] for a in lst["Aliases"]], ["tmp"])
        self.aws("delete-alias", "--function-name", "app", "--name", "tmp")
        st, _, _ = self.api("GET", FUNCS + "/app/aliases/tmp")
        self.assertEqual(st, 404)
        status, _, _ = self.invoke("app:tmp")
        self.assertEqual(status, 404)
        # full ARN and name:qualifier forms
        _, g, _ = self.aws("get-function", "--function-name",
                           "arn:aws:lambda:us-east-1:000000000000:function:app:live")
        self.assertEqual(g["Configuration"]["Version"], "2")
        _, g, _ = self.aws("get-function", "--function-name", "app:1")
        self.assertEqual(g["Configuration"]["Version"], "1")

    def test_08_get_and_list_functions(self):
        _, g, _ = self.aws("get-function", "--function-name", "app")
        self.assertEqual(g["Configuration"]["FunctionName"], "app")
        self.assertEqual(g["Configuration"]["Version"], "$LATEST")
        self.assertEqual(g["Code"]["RepositoryType"], "S3")
        _, g1, _ = self.aws("get-function", "--function-name", "app", "--qualifier", "1")
        self.assertEqual(g1["Configuration"]["Version"], "1")
        self.assertTrue(g1["Configuration"]["FunctionArn"].endswith(":app:1"))
        _, lst, _ = self.aws("list-functions")
        self.assertEqual(sorted(f["FunctionName"] for f in lst["Functions"]),
                         ["app", "flaky", "pc", "thr"])
        self.assertTrue(all(f["Version"] == "$LATEST" for f in lst["Functions"]))

    # -- concurrency -----------------------------------------------------------------------
    def test_09_reserved_concurrency_zero_throttles(self):
        status, _, _ = self.invoke("thr")
        self.assertEqual(status, 200)
        _, out, _ = self.aws("put-function-concurrency", "--function-name", "thr",
                             "--reserved-concurrent-executions", "0")
        self.assertEqual(out, {"ReservedConcurrentExecutions": 0})
        _, g, _ = self.aws("get-function", "--function-name", "thr")
        self.assertEqual(g["Concurrency"], {"ReservedConcurrentExecutions": 0})
        _, gc, _ = self.aws("get-function-concurrency", "--function-name", "thr")
        self.assertEqual(gc, {"ReservedConcurrentExecutions": 0})
        status, hdrs, out = self.invoke("thr")
        self.assertEqual(status, 429, out)
        self.assertEqual(hdrs.get("x-amzn-errortype"), "TooManyRequestsException")
        self.aws("delete-function-concurrency", "--function-name", "thr")
        status, _, _ = self.invoke("thr")
        self.assertEqual(status, 200)

    def test_10_provisioned_alias_shift_has_no_cold_start(self):
        self.publish("pc")
        self.write("pc.lua", PC % "v2")
        self.reload()
        self.assertEqual(self.publish("pc"), "2")
        # $LATEST moves on: nothing but provisioned concurrency warms version 2
        self.write("pc.lua", PC % "v3")
        self.reload()
        self.aws("create-alias", "--function-name", "pc", "--name", "prod",
                 "--function-version", "1")
        _, out, _ = self.aws("put-provisioned-concurrency-config", "--function-name", "pc",
                             "--qualifier", "prod", "--provisioned-concurrent-executions", "2")
        self.assertEqual(out["RequestedProvisionedConcurrentExecutions"], 2)
        self.assertIn(out["Status"], ("READY", "IN_PROGRESS"))
        ready = wait_for(lambda: self.aws("get-provisioned-concurrency-config",
                                          "--function-name", "pc", "--qualifier",
                                          "prod")[1]["Status"] == "READY", 20, 0.2)
        self.assertTrue(ready)
        results = []	# (started after the shift, executed version, tail log)
        shifted = threading.Event()
        stop = threading.Event()
        errors = []

        def traffic():
            c = http.client.HTTPConnection("127.0.0.1", self.spur.port, timeout=10)
            try:
                while not stop.is_set():
                    after = shifted.is_set()
                    c.request("POST", INVOKE % "pc:prod", b"{}", {"X-Amz-Log-Type": "Tail"})
                    r = c.getresponse()
                    r.read()
                    if r.status != 200:
                        errors.append(r.status)
                        continue
                    tail = base64.b64decode(r.getheader("X-Amz-Log-Result", "")).decode(
                        "utf-8", "replace")
                    results.append((after, r.getheader("X-Amz-Executed-Version"), tail))
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))
            finally:
                c.close()

        def served(after, n=100):
            """n invocations done on this side of the shift (or an error)."""
            return errors or len([r for r in results if r[0] == after]) >= n

        t = threading.Thread(target=traffic)
        t.start()
        try:
            self.assertTrue(wait_for(lambda: served(False), 20), "no traffic before the shift")
            _, u, _ = self.aws("update-alias", "--function-name", "pc", "--name", "prod",
                               "--function-version", "2")
            self.assertEqual(u["FunctionVersion"], "2")
            shifted.set()
            self.assertTrue(wait_for(lambda: served(True), 20), "no traffic after the shift")
        finally:
            stop.set()
            t.join(15)
        self.assertEqual(errors, [])
        after = [r for r in results if r[0]]
        self.assertTrue(after, "no invocation after the shift")
        self.assertTrue(all(v == "2" for _, v, _ in after), [v for _, v, _ in after])
        self.assertTrue(all("REPORT RequestId" in tail for _, _, tail in after))
        # the shift is when the alias moved, before the CLI returned: every
        # invocation of version 2 is after it
        on_new = [tail for _, v, tail in results if v == "2"]
        self.assertTrue(all("REPORT RequestId" in tail for tail in on_new))
        cold = [tail for tail in on_new if "Init Duration" in tail]
        self.assertEqual(cold, [], "cold starts after the shift")
        self.assertEqual([t for _, v, t in results if v == "1" and "Init Duration" in t], [],
                         "cold starts on the provisioned version before the shift")
        self.assertTrue(any(r[1] == "1" for r in results if not r[0]))
        _, lst, _ = self.aws("list-provisioned-concurrency-configs", "--function-name", "pc")
        self.assertEqual([c["FunctionArn"].rsplit(":", 1)[1]
                          for c in lst["ProvisionedConcurrencyConfigs"]], ["prod"])
        self.aws_error("InvalidParameterValueException", "put-provisioned-concurrency-config",
                       "--function-name", "pc", "--qualifier", "$LATEST",
                       "--provisioned-concurrent-executions", "1")
        self.aws("delete-provisioned-concurrency-config", "--function-name", "pc",
                 "--qualifier", "prod")
        self.aws_error("ProvisionedConcurrencyConfigNotFoundException",
                       "get-provisioned-concurrency-config", "--function-name", "pc",
                       "--qualifier", "prod")

    def test_11_event_invoke_config(self):
        _, out, _ = self.aws("put-function-event-invoke-config", "--function-name", "flaky",
                             "--maximum-retry-attempts", "1",
                             "--maximum-event-age-in-seconds", "600")
        self.assertEqual((out["MaximumRetryAttempts"], out["MaximumEventAgeInSeconds"]),
                         (1, 600))
        self.assertTrue(out["FunctionArn"].endswith(":function:flaky:$LATEST"), out)
        self.assertIn("LastModified", out)
        _, got, _ = self.aws("get-function-event-invoke-config", "--function-name", "flaky")
        self.assertEqual((got["MaximumRetryAttempts"], got["MaximumEventAgeInSeconds"]),
                         (1, 600))
        self.aws_error("ValidationException", "put-function-event-invoke-config",
                       "--function-name", "flaky", "--maximum-retry-attempts", "3")

    # -- the CLI ---------------------------------------------------------------------------
    def test_12_cli(self):
        e = ["-e", self.url]
        p = self.spur_cli("publish", *e, "app", "--description", "cli")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("VERSION", p.stdout)
        self.assertRegex(p.stdout, r"\bapp\s+2\b")     # nothing changed: version 2
        p = self.spur_cli("alias", *e, "set", "app", "cli", "1", "--weight", "2=0.5")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"cli\s+1\s+2=50%")
        p = self.spur_cli("alias", *e, "set", "app", "cli", "2")     # exists: update
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"cli\s+2\s+-")
        _, a, _ = self.aws("get-alias", "--function-name", "app", "--name", "cli")
        self.assertEqual(a["FunctionVersion"], "2")
        p = self.spur_cli("alias", *e, "ls", "app")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(sorted(re.findall(r"^(\w+)\s+\d", p.stdout, re.M)), ["cli", "live"])
        p = self.spur_cli("versions", *e, "app")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"(?m)^\$LATEST\s")
        self.assertRegex(p.stdout, r"(?m)^1\s")
        self.assertRegex(p.stdout, r"(?m)^2\s.*cli")
        p = self.spur_cli("alias", *e, "rm", "app", "cli")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.spur_cli("alias", *e, "rm", "app", "cli")
        self.assertEqual(p.returncode, 2)
        self.assertIn("ResourceNotFoundException", p.stderr)
        p = self.spur_cli("alias", *e, "set", "app", "123", "1")
        self.assertEqual(p.returncode, 2)
        self.assertIn("ValidationException", p.stderr)
        p = self.spur_cli("versions", *e, "nope")
        self.assertEqual(p.returncode, 2)
        p = self.spur_cli("alias", *e, "set", "app", "x", "1", "--weight", "nonsense")
        self.assertEqual(p.returncode, 1)
        p = self.spur_cli("publish", *e)
        self.assertEqual(p.returncode, 1)
        p = self.spur_cli("versions", "-e", "http://127.0.0.1:%d" % spurtest.free_port(), "app")
        self.assertEqual(p.returncode, 3)

    # -- reload ----------------------------------------------------------------------------
    def test_13_reload_with_syntax_error_is_refused(self):
        self.write("app.lua", "CODE = 'broken'\nfunction handle(event, ctx)\n  return {\nend\n")
        try:
            status, _, body = self.spur.request("POST", "/admin/reload", timeout=30)
            self.assertTrue(400 <= status < 500, (status, body))
            self.assertRegex(body.decode(), r"app\.lua:\d+")
            status, _, out = self.invoke("app")
            self.assertEqual((status, out["code"]), (200, "two"))
        finally:
            self.write("app.lua", APP % "two")


NATIVE_COUNTER = os.environ.get("SPUR_NATIVE_COUNTER", "")
NATIVE_CONFIG = """state_dir: {dir}/var
http: { listen: "127.0.0.1:{port}" }
functions:
  crashy: { runtime: native, code: %s, isolation: process, timeout: 3s }
"""


@unittest.skipUnless(NATIVE_COUNTER and os.path.exists(NATIVE_COUNTER),
                     "no native test handler built")
class NativeVersions(unittest.TestCase):
    """spec-audit 0.4: a published version kept `isolation: process`? A
    crash of version 1 must end its worker, not the router."""

    def test_a_published_version_keeps_process_isolation(self):
        spur = spurtest.Spur(NATIVE_CONFIG % NATIVE_COUNTER, name="versions-native").start()
        try:
            st, _, out = spur.request("POST", FUNCS + "/crashy/versions", b"{}")
            self.assertEqual(st, 201, out)
            version = json.loads(out)["Version"]
            st, _, out = spur.request("GET", "%s/crashy/versions" % FUNCS)
            self.assertEqual(st, 200, out)
            for target in ("crashy:" + version, "crashy"):
                st, hdrs, body = spur.request("POST", INVOKE % target, b'{"do":"segv"}')
                self.assertEqual(st, 200, body)
                self.assertEqual(hdrs.get("x-amz-function-error"), "Unhandled", body)
                self.assertEqual(json.loads(body)["errorType"], "Runtime.ExitError", body)
                self.assertTrue(spur.alive(), "the router died with " + target)
                st, _, body = spur.request("POST", INVOKE % target, b"{}")
                self.assertEqual(st, 200, body)
        finally:
            self.assertEqual(spur.stop(), 0, spur.log()[-3000:])


class AdminAuth(unittest.TestCase):
    def test_token_required(self):
        spur = spurtest.Spur(TOKEN_CONFIG, {"app.lua": APP % "one"}, name="versions-auth",
                             env={"SPUR_TEST_ADMIN_TOKEN": "s3cret"}).start()
        try:
            url = "http://127.0.0.1:%d" % spur.port
            for method, path in (("GET", FUNCS + "/"), ("GET", FUNCS + "/app"),
                                 ("POST", FUNCS + "/app/versions"),
                                 ("GET", "/2019-09-30/functions/app/concurrency")):
                st, _, _ = spur.request(method, path, b"{}")
                self.assertEqual(st, 401, path)
                st, _, _ = spur.request(method, path, b"{}",
                                        headers={"Authorization": "Bearer wrong"})
                self.assertEqual(st, 401, path)
            st, _, body = spur.request("GET", FUNCS + "/",
                                       headers={"Authorization": "Bearer s3cret"})
            self.assertEqual(st, 200, body)
            self.assertEqual([f["FunctionName"] for f in json.loads(body)["Functions"]],
                             ["app"])
            # the Invoke API is not the management API
            st, _, _ = spur.request("POST", INVOKE % "app", b"{}")
            self.assertEqual(st, 200)
            if HAVE_AWS:   # SigV4 is not the admin token
                p = subprocess.run([AWS, "--endpoint-url", url, "lambda", "list-functions"],
                                   env=aws_env(), capture_output=True, text=True, timeout=60)
                self.assertNotEqual(p.returncode, 0)
            env = dict(os.environ)
            env.pop("SPUR_ADMIN_TOKEN", None)
            p = subprocess.run([spurtest.SPUR, "versions", "-e", url, "app"], env=env,
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 2, p.stdout)
            env["SPUR_ADMIN_TOKEN"] = "s3cret"
            p = subprocess.run([spurtest.SPUR, "publish", "-e", url, "app"], env=env,
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            p = subprocess.run([spurtest.SPUR, "versions", "-e", url, "app"], env=env,
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertRegex(p.stdout, r"(?m)^1\s")
        finally:
            rc = spur.stop()
        self.assertEqual(rc, 0)


if __name__ == "__main__":
    spurtest.run(__name__)
