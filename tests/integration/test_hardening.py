"""Hardening: faults injected by the mock LLM under concurrent load, and
hostile clients. Every rollout must get the status the spec names, none may
be lost or answered twice, and the server's descriptors, threads and memory
must come back to where they were.

Run: python3 tests/integration/test_hardening.py [NAME_FILTER]
"""
import concurrent.futures as cf
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (KEY, eq, ok, parked_rollouts, registry, request, rollout, run_suite,  # noqa: E402
                     start_app, start_mock)

TESTS, test = registry()


def fds(proc):
    return len(os.listdir(f"/proc/{proc.p.pid}/fd"))


def tcp_ports():
    """socket inode -> (local port, remote port, state) for every TCP socket."""
    out = {}
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    local, remote, st, inode = parts[1], parts[2], parts[3], parts[9]
                    out[inode] = (int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16), st)
        except OSError:
            pass
    return out


def fd_kinds(app, upstream_port):
    """Counts the process's descriptors: client connections (on its own port,
    the listening socket aside), upstream connections (to upstream_port),
    other sockets (a libcurl pool's wake-up pair among them) and everything
    else."""
    ports = tcp_ports()
    kinds = {"client": 0, "upstream": 0, "sockets": 0, "other": 0}
    for fd in os.listdir(f"/proc/{app.p.pid}/fd"):
        try:
            target = os.readlink(f"/proc/{app.p.pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            info = ports.get(target[8:-1])
            if info and info[0] == app.port and info[2] != "0A":  # 0A: LISTEN
                kinds["client"] += 1
                continue
            if info and info[1] == upstream_port:
                kinds["upstream"] += 1
                continue
            kinds["sockets"] += 1
            continue
        kinds["other"] += 1
    return kinds


def rss_kb(proc):
    with open(f"/proc/{proc.p.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def settle(app, want_fds, timeout=10):
    """Waits until in-flight is 0 and descriptors are back to want_fds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if request(app, "GET", "/health").json()["inflight"] == 0 and fds(app) <= want_fds:
            return True
        time.sleep(0.1)
    return False


# What each fault may turn a rollout into (the rest succeed or are retried).
FAULTS = {
    "429": {200, 503}, "429:1": {200, 503}, "500": {200, 502}, "502": {200, 502},
    "503": {200, 502}, "malformed": {200, 502}, "truncated": {200, 502},
    "reset": {200, 502}, "hang": {200, 504}, "trickle:50": {200, 504},
    "wrong_tool": {200}, "no_intent": {200},
}


@test
def faults_under_concurrent_load():
    for fault, allowed in FAULTS.items():
        with start_mock("--fault", fault, "--fault-rate", "0.3", "--latency-ms", "20") as mock, \
                start_app(mock, args=["--retries", "3"]) as app:
            # Warm up at the same concurrency (the upstream connection pool
            # keeps its connections open for reuse), then take the baseline.
            n = 200
            with cf.ThreadPoolExecutor(n) as ex:
                list(ex.map(lambda i: rollout(app, i, extra={"safety": {"max_time_s": 3}}), range(n)))
            ok(settle(app, 10 ** 6), "idle after warm-up")
            base = fd_kinds(app, mock.port)
            base_threads, base_rss = app.threads(), rss_kb(app)
            with cf.ThreadPoolExecutor(n) as ex:
                rs = list(ex.map(lambda i: rollout(app, i, extra={
                    "run_id": f"{fault}-{i}", "safety": {"max_time_s": 3}}), range(n)))
            statuses = {}
            for i, r in enumerate(rs):
                statuses[r.status] = statuses.get(r.status, 0) + 1
                ok(r.status in allowed, f"{fault}: status {r.status} {r.body[:200]!r}")
                if r.status == 200:
                    eq(r.json()["run_id"], f"{fault}-{i}", "each answer belongs to its request")
                    s = r.json()["trajectories"][0]["steps"][0]
                    if fault in ("wrong_tool", "no_intent") and s["info"].get("reason"):
                        eq(s["reward"], 0.0)
                else:
                    ok(r.json()["detail"], "error detail")
            eq(sum(statuses.values()), n, "every rollout answered exactly once")
            ok(settle(app, 10 ** 6), "idle after the load")
            after = fd_kinds(app, mock.port)
            eq(after["client"], 0, f"{fault}: client connections left open")
            eq(after["other"], base["other"], f"{fault}: non-socket descriptors")
            # A thread opens another pool of 64 calls (two sockets: libcurl's
            # wake-up pair) when its calls outgrow the ones it has; how the
            # 200 calls fall between the two threads varies from run to run.
            ok(after["sockets"] <= base["sockets"] + 4,
               f"{fault}: other sockets {after['sockets']} vs {base['sockets']}")
            ok(after["upstream"] <= n, f"{fault}: upstream pool {after['upstream']} within {n}")
            eq(app.threads(), base_threads, f"{fault}: threads")
            ok(rss_kb(app) < base_rss + 16 * 1024, f"{fault}: RSS {rss_kb(app)} kB vs {base_rss} kB")
            print(f"    fault {fault:<10} statuses {dict(sorted(statuses.items()))}")


@test
def hostile_clients_do_not_stop_good_ones():
    socks = []
    with start_mock("--latency-ms", "50") as mock, \
            start_app(mock, args=["--idle-timeout", "3"]) as app:
        try:
            with cf.ThreadPoolExecutor(50) as ex:  # warm the upstream pool
                list(ex.map(lambda i: rollout(app, i), range(100)))
            ok(settle(app, 10 ** 6), "idle")
            base_fds = fds(app)
            # 1,000 idle connections
            for _ in range(1000):
                socks.append(socket.create_connection((app.host, app.port)))
            # slow header and slow body clients
            slow_h = socket.create_connection((app.host, app.port))
            slow_h.sendall(b"GET /health HTTP/1.1\r\nHo")
            slow_b = socket.create_connection((app.host, app.port))
            slow_b.sendall(f"POST /rollout HTTP/1.1\r\nHost: x\r\nX-API-Key: {KEY}\r\n"
                           "Content-Length: 100\r\n\r\n{\"env\":".encode())
            # oversized headers: refused, server unharmed
            big = socket.create_connection((app.host, app.port))
            big.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 100000 + b"\r\n\r\n")
            big.settimeout(5)
            try:
                head = big.recv(100)
                ok(head == b"" or head.startswith(b"HTTP/1.1 4"), f"oversized headers answer {head!r}")
            except (ConnectionResetError, BrokenPipeError):
                pass
            big.close()
            # well-behaved clients keep completing meanwhile
            with cf.ThreadPoolExecutor(50) as ex:
                rs = list(ex.map(lambda i: rollout(app, i), range(100)))
            eq([r.status for r in rs], [200] * 100)
            # pipelined requests on one connection: three answers in order
            p = socket.create_connection((app.host, app.port))
            p.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" * 2 +
                      b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            p.settimeout(5)
            data = b""
            while True:
                chunk = p.recv(65536)
                if not chunk:
                    break
                data += chunk
            p.close()
            eq(data.count(b"HTTP/1.1 200"), 2, "two pipelined 200s")
            eq(data.count(b"HTTP/1.1 404"), 1, "then the 404")
            for s in socks + [slow_h, slow_b]:
                s.close()
            socks = []
            deadline = time.time() + 10
            while fd_kinds(app, mock.port)["client"] and time.time() < deadline:
                time.sleep(0.1)
            k = fd_kinds(app, mock.port)
            eq(k["client"], 0, "every client connection closed")
            ok(fds(app) <= base_fds + 50, f"descriptors {fds(app)} vs {base_fds} (+ at most the pool)")
        finally:
            for s in socks:
                s.close()


@test
def departed_clients_parked_rollouts_are_cleaned_up():
    with start_mock("--fault", "hang") as mock, \
            start_app(mock) as app:
        rollout(app, 1, extra={"safety": {"max_time_s": 0.2}})
        base_fds = fds(app)
        body = b'{"env":{"seed":3},"safety":{"max_time_s":2}}'
        for _ in range(50):
            s = socket.create_connection((app.host, app.port))
            s.sendall(f"POST /rollout HTTP/1.1\r\nHost: x\r\nX-API-Key: {KEY}\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                      + body)
            s.close()  # gone while its rollout is parked
        time.sleep(0.5)
        ok(request(app, "GET", "/health").json()["inflight"] > 0, "rollouts were parked")
        ok(settle(app, base_fds, timeout=15), f"cleaned up: fds {fds(app)} vs {base_fds}")
        eq(request(app, "GET", "/health").status, 200)


@test
def llm_connections_a_burst_left_are_closed():
    # A burst spreads its calls over several libcurl multi handles (64 calls
    # each) per thread. Once no call has used a handle for --upstream-idle,
    # it and its connections go; left to libcurl, they would stay open until
    # a call next looked on that handle, which after a burst may be never.
    with start_mock("--latency-ms", "3000") as mock, \
            start_app(mock, args=["--upstream-idle", "1"]) as app:
        n = 200
        with parked_rollouts(app, n, 10) as futs:
            # the first call goes alone until it is answered or for a second
            # (its reply may tell the account's rate limits): wait for the rest
            during, deadline = 0, time.time() + 2.5
            while during <= 2 * 64 and time.time() < deadline:
                during = fd_kinds(app, mock.port)["upstream"]
                time.sleep(0.05)
            statuses = [f.result().status for f in futs]
        eq(statuses, [200] * n)
        ok(during > 2 * 64, f"{during} LLM connections during the burst: more than one handle per thread")
        deadline = time.time() + 10
        while fd_kinds(app, mock.port)["upstream"] and time.time() < deadline:
            time.sleep(0.1)
        eq(fd_kinds(app, mock.port)["upstream"], 0, "LLM connections left a few seconds after the burst")
        eq(rollout(app, 1).status, 200, "a call after the handles were closed")


if __name__ == "__main__":
    sys.exit(run_suite("hardening", TESTS, lambda: []))
