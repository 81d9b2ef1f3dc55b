"""make soak: DURATION seconds (default 600) at CONCURRENCY (default 200)
rollouts in flight against the mock LLM injecting faults (429, 5xx,
truncated bodies, resets and hangs at FAULT_RATE, default 0.05 each attempt).
Prints, each minute: rollouts/s, answers by status, the server's resident
memory, descriptors and threads. Loopback only; not part of make test.

Usage: python3 tests/soak.py [DURATION] [CONCURRENCY]
"""
import http.client
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "integration"))
from harness import KEY, start_app, start_mock  # noqa: E402

DURATION = float(sys.argv[1]) if len(sys.argv) > 1 else 600
CONC = int(sys.argv[2]) if len(sys.argv) > 2 else 200
RATE = os.environ.get("FAULT_RATE", "0.05")


def status_of(proc, key):
    with open(f"/proc/{proc.p.pid}/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return -1


def main():
    faults = ["429:1", "500", "503", "truncated", "reset", "hang"]
    mocks = [start_mock("--fault", f, "--fault-rate", RATE, "--latency-ms", "100") for f in faults]
    apps = [start_app(m, args=["--max-time", "5"]) for m in mocks[:1]]
    app = apps[0]
    counts, lock, stop = {}, threading.Lock(), threading.Event()

    def worker(w):
        conn = None
        i = 0
        while not stop.is_set():
            mock = mocks[(w + i) % len(mocks)]
            body = json.dumps({"env": {"seed": w * 100000 + i},
                               "policy": {"config": {"inference_url": mock.url + "/v1"}}})
            i += 1
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(app.host, app.port, timeout=30)
                conn.request("POST", "/rollout", body, {"X-API-Key": KEY, "Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                st = r.status
            except OSError:
                conn = None
                st = "client-error"
            with lock:
                counts[st] = counts.get(st, 0) + 1

    threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(CONC)]
    t0 = time.time()
    for t in threads:
        t.start()
    print(f"soak: {CONC} rollouts in flight for {DURATION:.0f} s, faults {faults} at rate {RATE}")
    print(f"{'minute':>6} {'rollouts/s':>11} {'RSS MiB':>8} {'fds':>5} {'threads':>7}  answers by status")
    last_total, last_t, minute = 0, t0, 0
    while time.time() - t0 < DURATION:
        time.sleep(min(60, DURATION - (time.time() - t0)))
        minute += 1
        with lock:
            snap = dict(counts)
        total = sum(snap.values())
        now = time.time()
        rss = status_of(app, "VmRSS:") / 1024
        print(f"{minute:>6} {(total - last_total) / (now - last_t):>11.0f} {rss:>8.1f} "
              f"{len(os.listdir(f'/proc/{app.p.pid}/fd')):>5} {status_of(app, 'Threads:'):>7}  "
              f"{dict(sorted(snap.items(), key=str))}", flush=True)
        last_total, last_t = total, now
    stop.set()
    for t in threads:
        t.join(timeout=35)
    code = app.stop()
    for m in mocks:
        m.stop()
    print(f"soak: done, {sum(counts.values())} rollouts, task app exit code {code}")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
