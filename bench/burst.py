"""N rollouts at once against a mock LLM answering in LATENCY ms: do they all
come back in about one LATENCY of wall time? (issue 2's acceptance check)

Usage: python3 bench/burst.py [N=500] [LATENCY_MS=1000]
Starts bin/mock-llm and bin/task-app on free loopback ports, opens N
connections first, then sends every rollout at once and times the lot.
"""
import http.client
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from harness import KEY, start_app, start_mock  # noqa: E402


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    latency = sys.argv[2] if len(sys.argv) > 2 else "1000"
    mock = start_mock("--latency-ms", latency)
    app = start_app(mock)
    try:
        for run in (1, 2):
            conns = [http.client.HTTPConnection(app.host, app.port, timeout=60) for _ in range(n)]
            for c in conns:
                c.connect()
            start = threading.Barrier(n + 1)
            status = [None] * n

            def one(i):
                start.wait()
                conns[i].request("POST", "/rollout", json.dumps({"env": {"seed": i}}),
                                 {"X-API-Key": KEY, "Content-Type": "application/json"})
                r = conns[i].getresponse()
                r.read()
                status[i] = r.status
            threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
            for t in threads:
                t.start()
            start.wait()
            t0 = time.time()
            for t in threads:
                t.join()
            wall = time.time() - t0
            counts = {s: status.count(s) for s in set(status)}
            print(f"run {run}: {n} rollouts at once, upstream {latency} ms: statuses {counts}, "
                  f"wall {wall:.2f} s")
            for c in conns:
                c.close()
    finally:
        app.stop()
        mock.stop()


if __name__ == "__main__":
    main()
