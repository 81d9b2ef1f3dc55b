"""The task app at an LLM provider's rate limit: bin/mock-llm with --rpm as
the provider (a token bucket of one second's worth, 429 with Retry-After
and OpenAI's x-ratelimit-* headers beyond it), bin/task-app in front, and
bin/mipro behind it. Counts come from the mock (/mock/stats), never from
the task app's own word alone.

Run: python3 tests/integration/test_ratelimit.py [NAME_FILTER]
"""
import concurrent.futures as cf
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (KEY, eq, ok, registry, request, rollout, run_suite, start_app,  # noqa: E402
                     start_mock)
from test_mipro import load, run_mipro, write_config  # noqa: E402

TESTS, test = registry()
WARM = {"temperature": 0.7}  # not cached: every rollout is a call


def mock_stats(mock):
    return request(mock, "GET", "/mock/stats", key=None).json()


def burst(app, n, conc, start=0, extra=None):
    """n rollouts (seeds start..) from conc threads; their responses."""
    with cf.ThreadPoolExecutor(conc) as ex:
        return list(ex.map(lambda i: rollout(app, i, config=WARM, extra=extra, timeout=120),
                           range(start, start + n)))


def account(app):
    limits = request(app, "GET", "/info").json()["llm_rate_limits"]
    eq(len(limits), 1, f"one LLM account: {limits}")
    return limits[0]


def metric(app, name):
    text = request(app, "GET", "/metrics").body.decode()
    m = re.search(r"^" + name + r"\{[^}]*\} (\S+)$", text, re.M)
    ok(m, f"{name} in /metrics")
    return float(m.group(1))


@test
def burst_at_the_limit_all_succeed():
    # 250 rollouts from 200 connections against 50 requests/s (make bench
    # runs the 500)
    with start_mock("--rpm", "3000") as mock, start_app(mock) as app:
        t0 = time.time()
        rs = burst(app, 250, 200)
        wall = time.time() - t0
        statuses = sorted({r.status for r in rs})
        eq(statuses, [200], f"statuses {statuses}: {[r.body[:200] for r in rs if r.status != 200][:2]}")
        st = mock_stats(mock)
        ok(st["rate_limited"] <= st["completions"] // 50,
           f"429s {st['rate_limited']} of {st['completions']} calls: more than 2%")
        eq(st["completions"] - st["rate_limited"], 250, "one answered call per rollout")
        a = account(app)
        eq((a["requests_limit_from"], a["requests_per_minute"]), ("headers", 2910.0))
        eq(a["inflight"] + a["queued"], 0)
        ok(metric(app, "b77_llm_waits_total") > 0, "calls waited for a slot")
        eq(metric(app, "b77_llm_requests_per_minute"), 2910.0)
        # 50 at once, then 48.5 a second: about 4.1 s; no faster than the limit allows
        ok(wall >= 199 / 50, f"{wall:.1f} s for 250 rollouts is faster than 50 a second")
        print(f"    250 rollouts in {wall:.1f} s ({250 / wall:.1f}/s), "
              f"{st['rate_limited']} refused calls")


@test
def adaptation_recovers_when_the_limit_rises():
    with start_mock("--rpm", "1200") as mock, start_app(mock) as app:
        eq(sorted({r.status for r in burst(app, 40, 40)}), [200])
        eq(account(app)["requests_per_minute"], 1164.0)
        # the provider raises the account's limit to 100 a second
        eq(request(mock, "POST", "/mock/limits", {"rpm": 6000}, key=None).status, 200)
        # the first reply after it says so; a burst of 300 then takes about 2 s, not 15
        t0 = time.time()
        rs = burst(app, 300, 100, start=1000)
        wall = time.time() - t0
        eq(sorted({r.status for r in rs}), [200])
        eq(account(app)["requests_per_minute"], 5820.0)
        ok(wall < 300 / 20 * 0.5, f"{wall:.1f} s: still paced at the old limit")
        st = mock_stats(mock)
        ok(st["rate_limited"] <= st["completions"] // 50, f"{st}")


@test
def a_token_limit_is_paced_too():
    # about 650 tokens a rollout (its prompt's characters / 4 and its token
    # limit), against 10,000 tokens a second: some 15 rollouts a second
    with start_mock("--tpm", "600000") as mock, start_app(mock) as app:
        t0 = time.time()
        eq(sorted({r.status for r in burst(app, 60, 60)}), [200])
        wall = time.time() - t0
        a = account(app)
        eq((a["tokens_limit_from"], a["tokens_per_minute"]), ("headers", 582000.0))
        st = mock_stats(mock)
        ok(st["rate_limited"] <= st["completions"] // 50, f"{st}")
        ok(wall >= 2, f"60 rollouts in {wall:.1f} s: faster than the token limit allows")


@test
def a_server_without_headers_is_paced_from_its_refusals():
    with start_mock("--rpm", "6000", "--no-ratelimit-headers") as mock, start_app(mock) as app:
        rs = burst(app, 300, 100)
        eq(sorted({r.status for r in rs}), [200])
        a = account(app)
        eq(a["requests_limit_from"], "learned")
        ok(0 < a["requests_per_minute"] <= 6000 * 1.3, f"learned pace {a['requests_per_minute']}")
        before = mock_stats(mock)
        # paced now: the next burst is refused far less than the first
        rs = burst(app, 200, 100, start=1000)
        eq(sorted({r.status for r in rs}), [200])
        after = mock_stats(mock)
        refused = after["rate_limited"] - before["rate_limited"]
        calls = after["completions"] - before["completions"]
        ok(refused <= calls // 10, f"{refused} of {calls} calls refused once the pace was learned")


@test
def no_slot_before_the_deadline_is_503_with_retry_after():
    # 1 request a second; 12 rollouts that may wait 2 s each
    with start_mock("--rpm", "60") as mock, start_app(mock) as app:
        rs = burst(app, 12, 12, extra={"safety": {"max_time_s": 2}})
        codes = sorted(r.status for r in rs)
        ok(200 in codes and 503 in codes and set(codes) <= {200, 503}, f"statuses {codes}")
        for r in rs:
            if r.status == 503:
                j = r.json()
                eq(j["error"]["code"], "rate_limited")
                ok("retry after" in j["detail"] and "rate limits" in j["detail"], j["detail"])
                ok(int(r.header("Retry-After")) >= 1, "Retry-After")
        ok(metric(app, "b77_llm_gave_up_total") > 0, "counted")
        st = mock_stats(mock)
        ok(st["rate_limited"] <= 2, f"the task app held them back, not the LLM: {st}")


@test
def adaptation_off_passes_the_refusals_on_as_503():
    with start_mock("--rpm", "3000") as mock, \
            start_app(mock, args=["--rate-adapt", "off", "--retries", "1"]) as app:
        rs = burst(app, 200, 200)
        codes = {r.status for r in rs}
        ok(503 in codes and codes <= {200, 503}, f"statuses {codes}")
        r = next(r for r in rs if r.status == 503)
        ok("HTTP 429" in r.json()["detail"] and r.header("Retry-After"), r.body[:300])
        eq(request(app, "GET", "/info").json()["llm_rate_limits"], [])
        ok(mock_stats(mock)["rate_limited"] > 50, "the burst went out unpaced")


@test
def a_known_limit_is_paced_from_the_first_call():
    with start_mock("--rpm", "2400", "--no-ratelimit-headers") as mock, \
            start_app(mock, args=["--llm-rpm", "2400"]) as app:
        eq(sorted({r.status for r in burst(app, 100, 100)}), [200])
        a = account(app)
        eq((a["requests_limit_from"], a["requests_per_minute"]), ("set", 2328.0))
        eq(mock_stats(mock)["rate_limited"], 0)


@test
def the_optimizer_slows_down_when_told_to():
    # 10 calls a second, and rollouts that may wait 1 s for one: the task app
    # answers 503 + Retry-After, and bin/mipro waits rather than failing
    with start_mock("--rpm", "600") as mock, start_app(mock, args=["--max-time", "1"]) as app:
        cfg, results = write_config(app=app.url, mock=mock, budget=60,
                                    extra="max_concurrent = 20\n")
        p = run_mipro(cfg, timeout=300)
        eq(p.returncode, 0, p.stdout[-2000:] + p.stderr[-2000:])
        c = load(results, "job_metadata.json")["counts"]
        ok(c["rate_limited_replies"] > 0, f"no slow-down reply seen: {c}")
        eq(c["rollouts_failed"], 0)
        ok("Rate-limited:" in p.stdout, p.stdout[-1500:])
        ok(metric(app, "b77_llm_gave_up_total") > 0, "the task app answered 503s")


# Under ThreadSanitizer only the tests whose calls cross the task app's two
# threads and its limiter's locks most (B77_RATELIMIT_THREADS=1 in
# tests/run-all.sh): the others run in the plain suite.
THREADED = ("burst_at_the_limit_all_succeed", "a_server_without_headers_is_paced_from_its_refusals",
            "no_slot_before_the_deadline_is_503_with_retry_after",
            "adaptation_recovers_when_the_limit_rises")

if __name__ == "__main__":
    if os.environ.get("B77_RATELIMIT_THREADS"):
        TESTS[:] = [t for t in TESTS if t.__name__ in THREADED]
    sys.exit(run_suite("rate limits", TESTS, lambda: []))
