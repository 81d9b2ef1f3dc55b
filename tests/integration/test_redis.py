"""The reply cache's Redis store (--cache-store redis://HOST:PORT): replicas
share it (a repeat through another replica makes no LLM call; identical
requests spread over two replicas behind nginx make one), and a Redis that
is killed, restarted, slowed or holding a damaged value never fails a
rollout. The tests start Debian's redis-server and nginx themselves, on
loopback, on free ports. Upstream calls are counted at the mock.

Run: python3 tests/integration/test_redis.py [NAME_FILTER]
"""
import concurrent.futures as cf
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, DATA, LOG_DIR, LOGS, eq, ok, registry, request, rollout,  # noqa: E402
                     run_suite, start_app, start_mock)

TESTS, test = registry()
COLD = {"temperature": 0}
REDIS = "/usr/bin/redis-server"
NGINX = "/usr/sbin/nginx"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def resp(*args):
    msg = f"*{len(args)}\r\n".encode()
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        msg += b"$%d\r\n%s\r\n" % (len(a), a)
    return msg


def redis_cmd(port, *args, db=0, timeout=5):
    """One command over RESP (in database db); the reply as Python (None
    for a nil)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall((resp("SELECT", db) if db else b"") + resp(*args))
        f = s.makefile("rb")

        def read():
            line = f.readline()
            kind, rest = line[:1], line[1:-2]
            if kind in (b"+", b"-"):
                return rest.decode()
            if kind == b":":
                return int(rest)
            if kind == b"$":
                n = int(rest)
                if n < 0:
                    return None
                data = f.read(n + 2)[:-2]
                return data
            if kind == b"*":
                return [read() for _ in range(int(rest))]
            raise RuntimeError(f"bad reply {line!r}")
        if db:
            read()
        return read()


class Redis:
    """A redis-server of the test's own on a free port (no persistence)."""

    def __init__(self, port=None, args=()):
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(dir=LOG_DIR, prefix="redis-")
        self.log = os.path.join(self.dir, "redis.log")
        LOGS.append(self.log)
        self.p = subprocess.Popen([REDIS, "--port", str(self.port), "--bind", "127.0.0.1",
                                   "--save", "", "--appendonly", "no", "--dir", self.dir,
                                   "--logfile", self.log, *args])
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if redis_cmd(self.port, "PING") == "PONG":
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    @property
    def spec(self):
        return f"redis://127.0.0.1:{self.port}"

    def kill(self):
        self.p.kill()
        self.p.wait()

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGCONT)
            self.p.terminate()
            self.p.wait(20)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


class Nginx:
    """nginx in front of the given apps, round robin, on a free port."""

    def __init__(self, apps):
        self.port, self.name = free_port(), "nginx"
        d = tempfile.mkdtemp(dir=LOG_DIR, prefix="nginx-")
        conf = os.path.join(d, "nginx.conf")
        servers = " ".join(f"server {a.host}:{a.port};" for a in apps)
        with open(conf, "w") as f:
            f.write(f"""worker_processes 1; daemon off; pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 1024; }}
http {{ access_log off; client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d};
  uwsgi_temp_path {d}; scgi_temp_path {d};
  upstream apps {{ {servers} keepalive 64; }}
  server {{ listen 127.0.0.1:{self.port}; location / {{ proxy_pass http://apps;
    proxy_http_version 1.1; proxy_set_header Connection ""; proxy_read_timeout 120s; }} }} }}
""")
        self.p = subprocess.Popen([NGINX, "-c", conf, "-p", d])
        self.host, self.url = "127.0.0.1", f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("nginx did not start")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.p.terminate()
        self.p.wait(20)
        return False


class Env:
    mock = None


def calls():
    return request(Env.mock, "GET", "/mock/stats", key=None).json()["completions"]


def app_on(redis_spec, *extra):
    return start_app(Env.mock, args=["--cache-store", redis_spec, *extra])


def cache_of(r):
    eq(r.status, 200, r.body[:300])
    return r.json()["trajectories"][0]["steps"][0]["info"]["cache"]


def store_state(app):
    return request(app, "GET", "/health", key=None).json()["cache_store"]["state"]


def wait_for(cond, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"never: {what}")


def replies_in(redis):
    return len(redis_cmd(redis.port, "KEYS", "b77:reply:*"))


def each_answered_by_the_llm(pick, seeds):
    """Rollouts of seeds, 8 at a time, pick(seed) the replica: every one is
    answered (200), each by an LLM call of its own."""
    before = calls()
    with cf.ThreadPoolExecutor(8) as ex:
        rs = list(ex.map(lambda s: rollout(pick(s), s, config=COLD), seeds))
    eq(sorted({r.status for r in rs}), [200], [r.body[:200] for r in rs if r.status != 200][:2])
    eq(calls() - before, len(seeds))


def shares_again(redis, app, seed):
    """After a fault: app's store is back, and a reply it stores is found by
    a replica started afterwards (one call for both)."""
    wait_for(lambda: store_state(app) == "ok", "the cache comes back")
    before, stored = calls(), replies_in(redis)
    eq(cache_of(rollout(app, seed, config=COLD)), "miss")
    wait_for(lambda: replies_in(redis) > stored, "stored")
    with app_on(redis.spec) as other:
        wait_for(lambda: store_state(other) == "ok", "connected")
        eq(cache_of(rollout(other, seed, config=COLD)), "hit")
    eq(calls() - before, 1)


@test
def a_repeat_through_another_replica_makes_no_call():
    with Redis() as redis, app_on(redis.spec) as a, app_on(redis.spec) as b:
        wait_for(lambda: store_state(a) == "ok" and store_state(b) == "ok", "both connected")
        before = calls()
        eq(cache_of(rollout(a, 11, config=COLD)), "miss")
        wait_for(lambda: replies_in(redis) >= 1, "the reply in Redis")
        eq(cache_of(rollout(b, 11, config=COLD)), "hit")
        eq(calls() - before, 1, "one call for two replicas")
        wait_for(lambda: redis_cmd(redis.port, "KEYS", "b77:lock:*") == [], "the lock released")
        # a replica started afterwards (its memory empty) finds it too
        with app_on(redis.spec) as c:
            wait_for(lambda: store_state(c) == "ok", "connected")
            eq(cache_of(rollout(c, 11, config=COLD)), "hit")
        eq(calls() - before, 1)
        # the value carries its length and checksum; a TTL was set (--cache-ttl, a week)
        key = redis_cmd(redis.port, "KEYS", "b77:reply:*")[0]
        ok(0 < redis_cmd(redis.port, "PTTL", key) <= 7 * 86400 * 1000, "expires")
        ok(redis_cmd(redis.port, "GET", key).startswith(b"B77R"), "the value's header")


@test
def a_rollout_id_replays_on_another_replica():
    body = {"rollout_id": "fleet-1", "env": {"seed": 31, "config": {"split": "test"}},
            "policy": {"provider": "openai", "model": "mock"}}
    with Redis() as redis, app_on(redis.spec) as a, app_on(redis.spec) as b:
        wait_for(lambda: store_state(a) == "ok" and store_state(b) == "ok", "both connected")
        before = calls()
        r = request(a, "POST", "/rollouts", body)
        eq((r.status, r.json()["replayed"]), (200, False), r.body[:200])
        wait_for(lambda: len(redis_cmd(redis.port, "KEYS", "b77:reply:*")) >= 1, "the result in Redis")
        r = request(b, "POST", "/rollouts", body)
        eq((r.status, r.json()["replayed"]), (200, True), r.body[:200])
        eq(request(b, "POST", "/rollouts", dict(body, env={"seed": 32})).status, 409)
        eq(calls() - before, 1)


@test
def fifty_identical_requests_over_two_replicas_make_one_call():
    with Redis() as redis, app_on(redis.spec) as a, app_on(redis.spec) as b, Nginx([a, b]) as lb:
        wait_for(lambda: store_state(a) == "ok" and store_state(b) == "ok", "both connected")
        before = calls()
        slow = dict(COLD, model="mock+latency=400")
        with cf.ThreadPoolExecutor(50) as ex:
            rs = list(ex.map(lambda _: rollout(lb, 23, config=slow), range(50)))
        kinds = sorted(cache_of(r) for r in rs)
        eq(calls() - before, 1, f"one LLM call for 50 identical requests ({kinds.count('miss')} misses)")
        eq(kinds.count("miss"), 1)
        # both replicas answered some: the lock, not one replica, made it one call
        served = []
        for app in (a, b):
            text = request(app, "GET", "/metrics").body.decode()
            served.append(sum(float(line.split()[-1]) for line in text.splitlines()
                              if line.startswith("b77_cache_lookups_total")))
        ok(all(n > 0 for n in served), f"requests per replica: {served}")


@test
def the_lock_lives_as_long_as_its_holder():
    with Redis() as redis, app_on(redis.spec) as a, app_on(redis.spec) as b:
        wait_for(lambda: store_state(a) == "ok" and store_state(b) == "ok", "both connected")
        locks = lambda: redis_cmd(redis.port, "KEYS", "b77:lock:*")  # noqa: E731
        # A call longer than the lock's lease (3 s): its holder renews it, so
        # the other replica waits for the reply instead of calling too.
        before = calls()
        slow = dict(COLD, model="mock+latency=4500")
        with cf.ThreadPoolExecutor(2) as ex:
            fa = ex.submit(rollout, a, 41, config=slow)
            wait_for(lambda: locks() != [], "a holds the lock")
            ok(0 < redis_cmd(redis.port, "PTTL", locks()[0]) <= 3000, "a lease, not the deadline")
            fb = ex.submit(rollout, b, 41, config=slow)
            eq(sorted([cache_of(fa.result()), cache_of(fb.result())]), ["miss", "shared"])
        eq(calls() - before, 1, "one call: the lock outlived its lease")
        # A holder that dies (SIGKILL) mid-call: its lock ends with the lease,
        # and the other replica calls itself, long before its deadline (30 s).
        hang = dict(COLD, model="mock+fault=hang*1")  # the body's first attempt never answers
        safety = {"safety": {"max_time_s": 30}}
        with app_on(redis.spec) as c, cf.ThreadPoolExecutor(1) as ex:
            c.check_exit = False  # killed on purpose
            wait_for(lambda: store_state(c) == "ok", "connected")
            ex.submit(rollout, c, 42, config=hang, extra=safety)
            wait_for(lambda: locks() != [], "c holds the lock")
            c.p.kill()
            c.p.wait()
            t = time.time()
            r = rollout(b, 42, config=hang, extra=safety)
            took = time.time() - t
            eq(cache_of(r), "miss")
            ok(took < 20, f"answered {took:.1f} s after its holder died (its lease is 3 s)")
        wait_for(lambda: locks() == [], "no lock left")


@test
def redis_killed_mid_run_then_back():
    redis = Redis()
    port = redis.port
    with app_on(redis.spec) as a, app_on(redis.spec) as b:
        wait_for(lambda: store_state(a) == "ok", "connected")
        for s in range(100, 110):
            eq(rollout(a, s, config=COLD).status, 200)
        redis.kill()
        each_answered_by_the_llm(lambda s: a if s % 2 else b, range(200, 220))
        wait_for(lambda: store_state(a) == "error", "the state shows the store down")
        health = request(a, "GET", "/health", key=None).json()
        ok(health["cache_store"]["kind"] == "redis" and health["status"] == "healthy", health)
        ok("Redis" in request(a, "GET", "/info").json()["cache_store"]["last_error"], "what failed")
        ok("rollouts go on to the LLM" in a.read_log(), "logged with what happens")
        # Redis back on its port: both reconnect by themselves, and it shares again
        redis = Redis(port)
        try:
            wait_for(lambda: store_state(a) == "ok" and store_state(b) == "ok", "reconnected")
            before = calls()
            eq(cache_of(rollout(a, 300, config=COLD)), "miss")
            wait_for(lambda: replies_in(redis) >= 1, "stored again")
            eq(cache_of(rollout(b, 300, config=COLD)), "hit")
            eq(calls() - before, 1)
        finally:
            redis.stop()


@test
def redis_stopped_still_answers_every_rollout():
    with Redis() as redis, app_on(redis.spec) as a:
        wait_for(lambda: store_state(a) == "ok", "connected")
        redis.p.send_signal(signal.SIGSTOP)  # no answers at all: a swamped or frozen Redis
        try:
            t0 = time.time()
            each_answered_by_the_llm(lambda s: a, range(400, 424))
            ok(time.time() - t0 < 30, "not stalled")
        finally:
            redis.p.send_signal(signal.SIGCONT)
        shares_again(redis, a, 500)


@test
def redis_slowed_still_answers_and_shares():
    """Redis stopped and resumed every 150 ms while rollouts run: slow,
    not dead. Every rollout is answered; the cache works afterwards."""
    import threading
    with Redis() as redis, app_on(redis.spec) as a:
        wait_for(lambda: store_state(a) == "ok", "connected")
        done = threading.Event()

        def stutter():
            while not done.is_set():
                redis.p.send_signal(signal.SIGSTOP)
                time.sleep(0.15)
                redis.p.send_signal(signal.SIGCONT)
                time.sleep(0.15)
        t = threading.Thread(target=stutter)
        t.start()
        try:
            with cf.ThreadPoolExecutor(8) as ex:
                rs = list(ex.map(lambda s: rollout(a, s, config=COLD), range(800, 840)))
        finally:
            done.set()
            t.join()
            redis.p.send_signal(signal.SIGCONT)
        eq(sorted({r.status for r in rs}), [200])
        shares_again(redis, a, 850)


@test
def a_full_redis_refuses_writes_and_nothing_fails():
    with Redis(args=["--maxmemory-policy", "noeviction"]) as redis, app_on(redis.spec) as a:
        wait_for(lambda: store_state(a) == "ok", "connected")
        # no room and no eviction: every write (and lock) is refused with OOM
        redis_cmd(redis.port, "CONFIG", "SET", "maxmemory", "1")
        ok(redis_cmd(redis.port, "SET", "one-more", "x").startswith("OOM"), "Redis is full")
        t0 = time.time()
        each_answered_by_the_llm(lambda s: a, range(900, 916))
        ok(time.time() - t0 < 10, "a refused lock is not waited on")
        wait_for(lambda: "OOM" in request(a, "GET", "/info").json()["cache_store"].get("last_error", ""),
                 "the refusal shows in /info")
        ok("OOM" in a.read_log(), "logged")
        # room again: the cache works again
        redis_cmd(redis.port, "CONFIG", "SET", "maxmemory", "0")
        shares_again(redis, a, 950)


@test
def a_damaged_value_is_dropped_and_fetched_again():
    with Redis() as redis:
        with app_on(redis.spec) as a:
            wait_for(lambda: store_state(a) == "ok", "connected")
            eq(cache_of(rollout(a, 600, config=COLD)), "miss")
            wait_for(lambda: replies_in(redis) >= 1, "stored")
        key = redis_cmd(redis.port, "KEYS", "b77:reply:*")[0]
        value = redis_cmd(redis.port, "GET", key)
        redis_cmd(redis.port, "SET", key, value[:-5] + b"XXXXX")  # same length, wrong checksum
        before = calls()
        with app_on(redis.spec) as b:
            wait_for(lambda: store_state(b) == "ok", "connected")
            eq(cache_of(rollout(b, 600, config=COLD)), "miss")
            eq(calls() - before, 1, "fetched again")
            ok("failed its check" in b.read_log(), "logged")
            damaged = value[:-5] + b"XXXXX"
            wait_for(lambda: redis_cmd(redis.port, "GET", key) not in (None, damaged), "stored again")
        with app_on(redis.spec) as c:
            wait_for(lambda: store_state(c) == "ok", "connected")
            eq(cache_of(rollout(c, 600, config=COLD)), "hit", "the reply stored again passes its check")


@test
def down_at_start_then_up_and_cache_stats():
    port = free_port()
    spec = f"redis://127.0.0.1:{port}/2"
    with app_on(spec, "--cache-ttl", "0") as a:
        eq(store_state(a), "error")
        eq(rollout(a, 700, config=COLD).status, 200)
        with Redis(port) as redis:
            wait_for(lambda: store_state(a) == "ok", "connected once Redis is up")
            eq(cache_of(rollout(a, 701, config=COLD)), "miss")
            wait_for(lambda: len(redis_cmd(redis.port, "KEYS", "b77:reply:*", db=2)) == 1,
                     "stored in database 2")
            eq(redis_cmd(redis.port, "KEYS", "b77:reply:*"), [], "nothing in database 0")
            key = redis_cmd(redis.port, "KEYS", "b77:reply:*", db=2)[0]
            eq(redis_cmd(redis.port, "PTTL", key, db=2), -1, "--cache-ttl 0: no expiry")
            out = subprocess.run([os.path.join(BIN, "task-app"), "--cache-store", spec, "--cache-stats"],
                                 capture_output=True, text=True, timeout=30)
            eq(out.returncode, 0, out.stderr)
            ok("store: redis" in out.stdout and "entries:" in out.stdout, out.stdout)
    # a bad address is refused at start, with what is wanted
    r = subprocess.run([os.path.join(BIN, "task-app"), "--data-dir", DATA, "--cache-store",
                        "redis://user:pw@127.0.0.1:1"], capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, ENVIRONMENT_API_KEY="k"))
    ok(r.returncode != 0 and "redis://HOST:PORT" in r.stderr, (r.returncode, r.stderr))


def setup():
    for exe in (REDIS, NGINX):
        if not os.path.exists(exe):
            raise RuntimeError(f"{exe} is not installed (make test installs it: "
                               "scripts/install-deps.sh --test)")
    Env.mock = start_mock()
    return [("mock-llm", Env.mock)]


if __name__ == "__main__":
    sys.exit(run_suite("redis store", TESTS, setup))
