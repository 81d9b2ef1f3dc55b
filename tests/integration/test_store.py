"""The reply cache's SQLite store (--cache-store sqlite:PATH): kept across
restarts, shared by task-app processes on one file, and never fatal when
the file is damaged, truncated, of the old format or not a cache at all.
Upstream calls are counted at the mock.

Run: python3 tests/integration/test_store.py [NAME_FILTER]
"""
import concurrent.futures as cf
import glob
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, DATA, LOG_DIR, eq, ok, registry, request, rollout, run_suite,  # noqa: E402
                     start_app, start_mock)

TESTS, test = registry()
COLD = {"temperature": 0}


class Env:
    mock = None


def calls():
    return request(Env.mock, "GET", "/mock/stats", key=None).json()["completions"]


def fresh_path():
    return os.path.join(tempfile.mkdtemp(dir=LOG_DIR, prefix="store-"), "replies.db")


def app_on(path, *extra):
    return start_app(Env.mock, args=["--cache-store", "sqlite:" + path, *extra])


def run(app, seeds):
    with cf.ThreadPoolExecutor(16) as ex:
        rs = list(ex.map(lambda s: rollout(app, s, config=COLD), seeds))
    eq(sorted({r.status for r in rs}), [200], [r.body[:200] for r in rs if r.status != 200][:2])
    return [r.json()["trajectories"][0]["steps"][0]["info"]["cache"] for r in rs]


def store_info(app):
    return request(app, "GET", "/info").json()["cache_store"]


def wait_entries(app, n, timeout=20):
    """Waits until the file holds n replies: the store writes on a thread
    of its own, a moment after the rollout is answered."""
    deadline = time.time() + timeout
    while store_info(app)["entries"] < n and time.time() < deadline:
        time.sleep(0.02)
    return store_info(app)["entries"]


@test
def a_restart_keeps_the_cache():
    path = fresh_path()
    with app_on(path) as app:
        eq(set(run(app, range(30))), {"miss"})
        eq(wait_entries(app, 30), 30)
    before = calls()
    with app_on(path) as app:
        eq(set(run(app, range(30))), {"hit"})
        eq(calls() - before, 0, "a repeated evaluation after a restart makes no LLM call")
        i = store_info(app)
        eq((i["kind"], i["state"], i["entries"], i["errors"]), ("sqlite", "ok", 30, 0))
        health = request(app, "GET", "/health").json()
        eq(health["cache_store"]["state"], "ok")
        text = request(app, "GET", "/metrics").body.decode()
        ok('b77_cache_store_operations_total{op="hit"} 30' in text, "store hits counted")
    # --cache-file is the same store
    before = calls()
    with start_app(Env.mock, args=["--cache-file", path]) as app:
        eq(set(run(app, range(30))), {"hit"})
        eq(calls() - before, 0)


@test
def two_processes_share_one_file():
    path = fresh_path()
    with app_on(path) as a, app_on(path) as b:
        # written by both at once
        with cf.ThreadPoolExecutor(2) as ex:
            list(ex.map(lambda p: run(*p), [(a, range(0, 40)), (b, range(100, 140))]))
        eq(wait_entries(a, 80), 80, "both processes' replies in the one file")
        before = calls()
        # each finds what the other stored
        eq(set(run(a, range(100, 140))), {"hit"})
        eq(set(run(b, range(0, 40))), {"hit"})
        eq(calls() - before, 0, "no call for a reply the other process paid for")
        for app in (a, b):
            eq(store_info(app)["errors"], 0)


@test
def cache_stats_prints_the_store():
    path = fresh_path()
    with app_on(path) as app:
        run(app, range(10))
        run(app, range(10))  # memory hits: the store is not asked
    with app_on(path) as app:
        run(app, range(10))  # store hits
    out = subprocess.run([os.path.join(BIN, "task-app"), "--cache-store", "sqlite:" + path, "--cache-stats"],
                         capture_output=True, text=True, timeout=30)
    eq(out.returncode, 0, out.stderr)
    ok(re.search(r"^entries: 10$", out.stdout, re.M), out.stdout)
    ok(re.search(r"^lookups: 20, hits: 10 \(hit rate 50\.0%\)$", out.stdout, re.M), out.stdout)


def assert_serves_and_set_aside(path, suffix):
    before = calls()
    with app_on(path) as app:
        eq(request(app, "GET", "/health").status, 200)
        eq(set(run(app, range(5))), {"miss"})
        eq(calls() - before, 5)
        eq(store_info(app)["state"], "ok")
    aside = glob.glob(path + "." + suffix + "-*")
    eq(len(aside), 1, f"set aside as {suffix}: {os.listdir(os.path.dirname(path))}")
    return aside[0]


@test
def a_damaged_file_is_moved_aside():
    path = fresh_path()
    with app_on(path) as app:
        run(app, range(200, 260))
    size = os.path.getsize(path)
    ok(size > 3 * 4096, f"a store of {size} bytes")
    with open(path, "r+b") as f:  # the replies table's root page (page 2)
        f.seek(4096)
        f.write(os.urandom(4096))
    assert_serves_and_set_aside(path, "damaged")


@test
def a_file_repaired_by_another_process_is_reopened():
    # Two processes share a file that gets damaged while they run (their page
    # caches may hide it); a third one, started then, finds the damage, moves
    # the file aside and makes a new one. The two running ones follow the path
    # to the new file, so the three share one file again.
    path = fresh_path()
    with app_on(path) as a, app_on(path) as b:
        run(a, range(600, 660))
        eq(wait_entries(b, 60), 60)
        db = sqlite3.connect(path)  # everything into the main file, then damage it
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        with open(path, "r+b") as f:
            f.seek(4096)
            f.write(os.urandom(4096))
        with app_on(path) as c:
            eq(len(glob.glob(path + ".damaged-*")), 1, os.listdir(os.path.dirname(path)))
            eq(store_info(c)["repaired"], 1)
            for app in (a, b):
                deadline = time.time() + 20
                while store_info(app)["reopened"] < 1 and time.time() < deadline:
                    time.sleep(0.05)
                eq(store_info(app)["reopened"], 1, "the new file reopened")
            eq(run(c, [700]), ["miss"])
            eq(wait_entries(a, 1), 1, "a sees the reply c stored in the new file")
            before = calls()
            eq(run(a, [700]) + run(b, [700]), ["hit", "hit"])
            eq(calls() - before, 0, "shared again: no call for what c paid for")
            run(a, range(710, 720))  # their own writes go to the new file too
            eq(wait_entries(c, 11), 11)
        for app in (a, b):
            i = store_info(app)
            eq(i["state"], "ok", i)
            ok("reopening it" in app.read_log(), "logged")


@test
def a_truncated_file_is_moved_aside():
    path = fresh_path()
    with app_on(path) as app:
        run(app, range(300, 360))
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    assert_serves_and_set_aside(path, "damaged")


@test
def an_old_format_file_with_a_bad_header_is_not_fatal():
    # the record header that made the old loader allocate 100 TB and abort
    path = fresh_path()
    with open(path, "wb") as f:
        f.write(b"%032x 99999999999999\nxx\n" % 7)
    assert_serves_and_set_aside(path, "not-sqlite")
    # a well-formed old file (keys of the old hash): moved aside, with a warning
    path = fresh_path()
    with open(path, "wb") as f:
        for i in range(3):
            body = b'{"choices":[]}'
            f.write(b"%032x %d\n" % (i, len(body)) + body + b"\n")
    assert_serves_and_set_aside(path, "old-format")


@test
def a_reply_failing_its_check_is_fetched_again():
    path = fresh_path()
    with app_on(path) as app:
        run(app, range(400, 410))
    db = sqlite3.connect(path)
    db.execute("UPDATE replies SET body = CAST('{\"choices\":[]}' AS BLOB)")  # damaged in place
    db.commit()
    db.close()
    before = calls()
    with app_on(path) as app:
        eq(set(run(app, range(400, 410))), {"miss"})
        eq(calls() - before, 10, "each damaged reply called again")
        ok("failed its check" in app.read_log(), "logged")
    before = calls()
    with app_on(path) as app:
        eq(set(run(app, range(400, 410))), {"hit"})
        eq(calls() - before, 0, "stored again, good this time")


@test
def the_store_is_bounded_by_cache_bytes():
    path = fresh_path()
    with app_on(path, "--cache-bytes", "20000") as app:
        run(app, range(500, 600))
        deadline = time.time() + 20  # the last writes, and the eviction after them
        while time.time() < deadline and store_info(app)["bytes"] < 10000:
            time.sleep(0.02)
        i = store_info(app)
        ok(0 < i["bytes"] <= 20000, f"store holds {i['bytes']} bytes")
        ok(i["entries"] < 100, f"{i['entries']} entries kept")
        # the most recent are the ones kept
    before = calls()
    with app_on(path, "--cache-bytes", "20000") as app:
        eq(run(app, [599])[0], "hit")
        eq(run(app, [500])[0], "miss")
        eq(calls() - before, 1)


def setup():
    Env.mock = start_mock()
    return [("mock", Env.mock)]


if __name__ == "__main__":
    sys.exit(run_suite("store", TESTS, setup))
