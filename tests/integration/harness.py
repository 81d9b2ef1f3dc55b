"""Process and HTTP helpers for the integration tests.

Starts the real bin/task-app and bin/mock-llm on free loopback ports (port 0,
read back from their "listening on" line) and talks to them over real sockets.
"""
import concurrent.futures as cf
import contextlib
import http.client
import json
import os
import re
import shutil
import sys
import traceback
import signal
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("B77_BIN", os.path.join(ROOT, "bin"))
MOCK_BIN = os.environ.get("B77_MOCK_BIN", BIN)
DATA = os.environ.get("B77_DATA_DIR", os.path.join(ROOT, "dataset"))
KEY = "test-key-9f2c41d7e8b3a6c5"  # the suite greps every log for it

# Environment variables that would change the servers' defaults.
SCRUB = ("ENVIRONMENT_API_KEY", "DEV_ENVIRONMENT_API_KEY", "ENVIRONMENT_API_KEY_ALIASES",
         "OPENAI_API_KEY", "GROQ_API_KEY", "LLM_API_KEY", "LLM_BASE_URL", "LLM_MODEL",
         # every test talks to 127.0.0.1 directly; a proxy test sets its own
         "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
         "no_proxy", "NO_PROXY")

LOG_DIR = tempfile.mkdtemp(prefix="b77-test-")
LOGS = []  # every log file written, for the final secret scan
KEY_IN_RESPONSES = []  # requests whose response echoed the key


class Proc:
    """A server process started on port 0; .url is its base URL."""

    def __init__(self, argv, env=None, name="proc"):
        self.name = name
        self.log_path = os.path.join(LOG_DIR, f"{name}-{len(LOGS)}.log")
        LOGS.append(self.log_path)
        self.log = open(self.log_path, "wb")
        full_env = {k: v for k, v in os.environ.items() if k not in SCRUB}
        full_env.update(env or {})
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=full_env)
        self.url = None
        deadline = time.time() + 20
        while time.time() < deadline:
            m = re.search(r"listening on http://([^\s]+)", self.read_log())
            if m:
                self.url = "http://" + m.group(1)
                host, port = m.group(1).rsplit(":", 1)
                self.host, self.port = host, int(port)
                return
            if self.p.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"{argv[0]} did not start:\n{self.read_log()}")

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        """Stops the process; when the block succeeded, requires exit code 0
        (unless check_exit was turned off for a process the test kills)."""
        code = self.stop()
        if exc_type is None and getattr(self, "check_exit", True) and code != 0:
            raise AssertionError(f"{self.name} exited {code}")
        return False

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def threads(self):
        with open(f"/proc/{self.p.pid}/status") as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
        return -1

    def cpu_ticks(self):
        """User plus system CPU time so far, in clock ticks."""
        with open(f"/proc/{self.p.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stops the process; returns its exit code."""
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()
        return self.p.returncode


def wait_until_paid(results, proc, timeout=60):
    """Waits until an optimizer run has paid for something (its journal has a
    line) or has ended: a condition, not a fixed time, for a busy machine."""
    journal = os.path.join(results, "rollouts.jsonl")
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None and not (
            os.path.exists(journal) and os.path.getsize(journal) > 0):
        time.sleep(0.05)


def registry():
    """A test list and the decorator that adds to it."""
    tests = []

    def test(fn):
        tests.append(fn)
        return fn
    return tests, test


def start_mock(*args):
    return Proc([os.path.join(MOCK_BIN, "mock-llm"), "--port", "0", "--data-dir", DATA, *args], name="mock")


def start_app(mock=None, key=KEY, args=(), env=None):
    argv = [os.path.join(BIN, "task-app"), "--port", "0", "--data-dir", DATA]
    if mock:
        argv += ["--llm-url", mock.url + "/v1", "--model", "mock"]
    argv += list(args)
    e = dict(env or {})
    if key is not None:
        e["ENVIRONMENT_API_KEY"] = key
    return Proc(argv, env=e, name="app")


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


def request(proc, method, path, body=None, headers=None, key=KEY, timeout=60,
            chunked=False):
    """One HTTP exchange on a fresh connection. body: dict (sent as JSON),
    bytes or None. key: sent as X-API-Key when not None."""
    h = dict(headers or {})
    if key is not None:
        h.setdefault("X-API-Key", key)
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    conn = http.client.HTTPConnection(proc.host, proc.port, timeout=timeout)
    try:
        if chunked:
            conn.request(method, path, body=iter([body]), headers=h, encode_chunked=True)
        else:
            conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        resp = Response(r.status, r.getheaders(), r.read())
        # (the mock's /mock/stats reports what it received: only the task app counts)
        if proc.name == "app" and (KEY.encode() in resp.body or any(KEY in v for _, v in resp.headers)):
            KEY_IN_RESPONSES.append(f"{method} {path} -> {resp.status}")
        return resp
    finally:
        conn.close()


def rollout(proc, seed=0, config=None, extra=None, **kw):
    body = {"run_id": f"run-{seed}", "env": {"seed": seed},
            "policy": {"config": dict(config or {})}}
    body.update(extra or {})
    return request(proc, "POST", "/rollout", body, **kw)


@contextlib.contextmanager
def parked_rollouts(app, n, seconds):
    """Starts n rollouts, each on a thread of its own, and waits until all
    are in flight (or seconds have passed); yields their futures."""
    with cf.ThreadPoolExecutor(n) as ex:
        futs = [ex.submit(rollout, app, i) for i in range(n)]
        deadline = time.time() + seconds
        while request(app, "GET", "/health").json()["inflight"] < n and time.time() < deadline:
            time.sleep(0.02)
        yield futs


def eq(a, b, what=""):
    if a != b:
        raise AssertionError(f"{what}: {a!r} != {b!r}")


def ok(cond, what):
    if not cond:
        raise AssertionError(what)


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "WARNING: ThreadSanitizer")


def run_suite(name, tests, setup):
    """Runs tests (functions; an optional filter is argv[1]) after setup(),
    which returns [(name, Proc)] to stop and check at the end. Every server
    log is checked for sanitizer reports and for the test key. Prints
    "NAME: N passed, N failed" last; returns the exit code."""
    pattern = sys.argv[1] if len(sys.argv) > 1 else ""
    passed = failed = 0
    procs = setup()
    try:
        for fn in tests:
            if pattern not in fn.__name__:
                continue
            t0 = time.time()
            try:
                fn()
                passed += 1
                print(f"ok   {fn.__name__} ({time.time() - t0:.1f}s)", flush=True)
            except Exception:
                failed += 1
                print(f"FAIL {fn.__name__}\n{traceback.format_exc()}", flush=True)
    finally:
        for pname, p in procs:
            code = p.stop()
            if code != 0:
                failed += 1
                print(f"FAIL {pname} exited {code}\n{p.read_log()[-3000:]}")
    for path in LOGS:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        if any(mark in text for mark in SANITIZER_MARKS):
            failed += 1
            print(f"FAIL sanitizer report in {path}:\n{text[-4000:]}")
        if KEY in text:
            failed += 1
            print(f"FAIL the environment key appears in {path}")
    for leak in KEY_IN_RESPONSES:
        failed += 1
        print(f"FAIL the environment key appears in the response to {leak}")
    if failed:
        print(f"server logs kept in {LOG_DIR}")
    else:
        shutil.rmtree(LOG_DIR, ignore_errors=True)
    print(f"{name}: {passed} passed, {failed} failed")
    return 1 if failed else 0
