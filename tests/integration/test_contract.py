"""The newest contract (synth-laboratories/containers, 2026-05-28): POST
/rollouts, idempotent rollout ids, async submission with its state, events
and terminate, /program, /metadata, /validate-candidate; and the synth-ai
container-era request on POST /rollout. The field lists are mirrored by
hand from the reference's models. Upstream calls are counted at the mock.

Run: python3 tests/integration/test_contract.py [NAME_FILTER]
"""
import concurrent.futures as cf
import http.client
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ok as check  # noqa: E402
from harness import (KEY, LOG_DIR, eq, registry, request, rollout, run_suite,  # noqa: E402
                     start_app, start_mock)

TESTS, test = registry()


def ok(cond, what="expected"):
    check(cond, what)


class Env:
    mock = None
    app = None


def calls():
    return request(Env.mock, "GET", "/mock/stats", key=None).json()["completions"]


def body(rid=None, seed=0, model="mock", **extra):
    b = {"env": {"seed": seed, "config": {"split": "test"}},
         "policy": {"provider": "openai", "model": model}}
    if rid:
        b["rollout_id"] = rid
    b.update(extra)
    return b


def post(b, app=None):
    return request(app or Env.app, "POST", "/rollouts", b)


def wait_state(rid, states, timeout=60, app=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = request(app or Env.app, "GET", f"/rollouts/{rid}/state")
        if r.status == 200 and r.json()["status"] in states:
            return r.json()
        time.sleep(0.02)
    raise AssertionError(f"{rid} never reached {states}")


# RolloutRequestModel's response, as the reference's execution_to_rollout_payload writes it
RESPONSE_FIELDS = ["rollout_id", "trace_correlation_id", "trial_id", "status", "success_status",
                   "status_detail", "task_id", "seed", "checkpoint_id", "checkpoint", "reward_info",
                   "summary", "usage", "artifacts", "trace", "turns", "metadata", "created_at",
                   "updated_at", "parent_rollout_id", "parent_checkpoint_id"]
SUCCESS_STATUSES = {"success", "timeout", "network_error", "apply_failed", "runtime_error", "failure"}


@test
def a_rollout_answers_the_reference_fields():
    r = post(body("shape-1", seed=7, trial_id="t-9"))
    eq(r.status, 200, r.body[:300])
    j = r.json()
    for f in RESPONSE_FIELDS:
        ok(f in j, f"response has {f}")
    eq((j["rollout_id"], j["trace_correlation_id"], j["trial_id"]), ("shape-1", "shape-1", "t-9"))
    eq((j["status"], j["success_status"], j["replayed"]), ("completed", "success", False))
    ri = j["reward_info"]
    ok(isinstance(ri["outcome_reward"], float) and ri["outcome_reward"] in (0.0, 1.0))
    eq(ri["event_rewards"], [ri["outcome_reward"]])
    eq(ri["details"]["seed"], 7)
    ok(isinstance(j["usage"].get("total_tokens"), int), "usage from the LLM")
    eq(j["trace"]["metadata"]["rollout_id"], "shape-1")
    ok(j["task_instance_id"].startswith("banking77::test::"))
    # the older fields stay for the tools that read them
    eq(j["trajectories"][0]["steps"][0]["reward"], ri["outcome_reward"])


@test
def a_repeated_rollout_id_replays_without_an_llm_call():
    b = body("replay-1", seed=11, candidate={"instruction": "Classify the query."})
    first = post(b)
    eq(first.status, 200)
    before = calls()
    again = post(b)
    eq(again.status, 200)
    eq(again.json()["replayed"], True)
    eq(calls() - before, 0, "a replay makes no LLM call")
    a, c = first.json(), again.json()
    a.pop("replayed")
    c.pop("replayed")
    eq(a, c, "the stored result")
    # async repeat of a finished one: the result too
    b2 = dict(b, submission_mode="async")
    eq(post(b2).json()["replayed"], True)


@test
def a_failed_rollout_is_a_failed_result():
    # The LLM refuses (HTTP 500, no retry helps) or cannot be reached: the
    # rollout's result says so, in the reference's terms, sync and async.
    before = calls()
    r = post(body("fail-1", seed=5, model="mock+fault=500"))
    eq(r.status, 502, r.body[:300])
    j = r.json()
    eq((j["status"], j["success_status"], j["http_status"]), ("failed", "network_error", 502))
    ok("HTTP 500" in j["detail"] and j["status_detail"] == j["detail"], j["detail"])
    ok(calls() > before, "the LLM was asked")
    before = calls()  # a failed rollout is not replayed: the same request runs again
    again = post(body("fail-1", seed=5, model="mock+fault=500"))
    eq((again.status, again.json()["replayed"], again.json()["status"]), (502, False, "failed"))
    ok(calls() > before, "asked again")
    dead = body("fail-2", seed=6, submission_mode="async")
    dead["policy"]["inference_url"] = "http://127.0.0.1:9/v1"  # nothing listens there
    eq(post(dead).status, 202)
    st = wait_state("fail-2", {"failed"})
    eq(st["status"], "failed")
    g = request(Env.app, "GET", "/rollouts/fail-2")  # the result, with its status, as sync
    eq(g.status, 502)
    ok(g.json()["status"] == "failed" and "Couldn't connect" in g.json()["detail"], g.body[:300])


@test
def the_same_id_with_another_request_is_a_conflict():
    eq(post(body("conflict-1", seed=1)).status, 200)
    r = post(body("conflict-1", seed=2))
    eq(r.status, 409)
    eq(r.json()["error"], "rollout_identity_conflict")
    ok("detail" in r.json())
    text = request(Env.app, "GET", "/metrics").body.decode()
    ok("b77_rollouts_conflicts_total" in text)


@test
def concurrent_duplicates_make_one_call():
    b = body("dup-1", seed=21, model="mock+latency=300")
    before = calls()
    with cf.ThreadPoolExecutor(10) as ex:
        rs = list(ex.map(lambda _: post(b), range(10)))
    eq([r.status for r in rs], [200] * 10)
    eq(calls() - before, 1, "ten requests of one rollout_id: one LLM call")
    eq(sorted(r.json()["replayed"] for r in rs), [False] + [True] * 9)
    eq(len({r.json()["reward_info"]["outcome_reward"] for r in rs}), 1)


@test
def async_submission_polls_and_streams():
    r = post(body("async-1", seed=3, model="mock+latency=400", submission_mode="async"))
    eq(r.status, 202, r.body[:200])
    eq(r.header("Location"), "/rollouts/async-1")
    ok(r.json()["status"] in ("queued", "running"))
    eq((r.json()["status_url"], r.json()["events_url"]), ("/rollouts/async-1", "/rollouts/async-1/events"))
    # the stream follows it to the end
    conn = http.client.HTTPConnection(Env.app.host, Env.app.port, timeout=30)
    conn.request("GET", "/rollouts/async-1/events", headers={"X-API-Key": KEY,
                                                             "Accept": "text/event-stream"})
    resp = conn.getresponse()
    eq(resp.status, 200)
    ok(resp.getheader("Content-Type").startswith("text/event-stream"))
    text = resp.read().decode()
    conn.close()
    kinds = [line[7:] for line in text.splitlines() if line.startswith("event: ")]
    eq(kinds, ["rollout.submitted", "llm.call.started", "rollout.finished"])
    g = request(Env.app, "GET", "/rollouts/async-1")
    eq((g.status, g.json()["status"]), (200, "completed"))
    ev = request(Env.app, "GET", "/rollouts/async-1/events?after=1").json()
    eq([e["kind"] for e in ev["events"]], ["llm.call.started", "rollout.finished"])
    eq(ev["cursor"]["closed"], True)
    # Last-Event-ID resumes a stream
    conn = http.client.HTTPConnection(Env.app.host, Env.app.port, timeout=30)
    conn.request("GET", "/rollouts/async-1/stream", headers={"X-API-Key": KEY, "Last-Event-ID": "2"})
    text = conn.getresponse().read().decode()
    conn.close()
    eq([line[7:] for line in text.splitlines() if line.startswith("event: ")], ["rollout.finished"])


@test
def a_thousand_pending_async_rollouts():
    before = calls()
    n = int(os.environ.get("B77_CONTRACT_PENDING", "1000"))  # fewer under the sanitizers
    with cf.ThreadPoolExecutor(32) as ex:
        rs = list(ex.map(lambda i: post(body(f"many-{i}", seed=1000 + i, model="mock+latency=1500",
                                             submission_mode="async")), range(n)))
    eq(sorted({r.status for r in rs}), [202], [r.body[:200] for r in rs if r.status != 202][:2])
    pending = request(Env.app, "GET", "/info").json()["rollouts"]["pending"]
    ok(pending > 0, f"{pending} pending right after submission")
    for i in range(n):
        wait_state(f"many-{i}", ("completed",), timeout=120)
    eq(calls() - before, n)
    eq(request(Env.app, "GET", "/info").json()["rollouts"]["pending"], 0)


@test
def terminate_cancels_a_running_rollout():
    before = calls()
    r = post(body("term-1", seed=5, model="mock+latency=5000", submission_mode="async"))
    eq(r.status, 202)
    wait_state("term-1", ("running",))
    t = request(Env.app, "POST", "/rollouts/term-1/terminate", {"reason": "test"})
    eq((t.status, t.json()["status"]), (200, "cancelled"))
    eq(t.json()["termination"], {"reason": "test"})
    g = request(Env.app, "GET", "/rollouts/term-1").json()
    eq(g["status"], "cancelled")
    # the call was abandoned: the app has nothing in flight long before the mock's 5 s
    deadline = time.time() + 3
    while request(Env.app, "GET", "/health").json()["inflight"] and time.time() < deadline:
        time.sleep(0.02)
    eq(request(Env.app, "GET", "/health").json()["inflight"], 0)
    ok(calls() - before <= 1)
    eq(request(Env.app, "POST", "/rollouts/nope/terminate", {}).status, 404)


@test
def a_restart_with_a_store_replays():
    path = os.path.join(tempfile.mkdtemp(dir=LOG_DIR, prefix="contract-"), "replies.db")
    b = body("persist-1", seed=9)
    with start_app(Env.mock, args=["--cache-store", "sqlite:" + path]) as app:
        eq(post(b, app).status, 200)
        deadline = time.time() + 20
        while request(app, "GET", "/info").json()["cache_store"]["entries"] < 1 and time.time() < deadline:
            time.sleep(0.02)
    before = calls()
    with start_app(Env.mock, args=["--cache-store", "sqlite:" + path]) as app:
        r = post(b, app)
        eq((r.status, r.json()["replayed"]), (200, True))
        eq(post(body("persist-1", seed=10), app).status, 409)
        eq(request(app, "GET", "/rollouts/persist-1").json()["rollout_id"], "persist-1")
    eq(calls() - before, 0)


@test
def requests_are_checked_as_the_reference_does():
    cases = [
        (body("bad-1", policy={"provider": "p", "model": "m", "config": {"api_key": "x"}}), "credential"),
        (body("bad-2", policy={"provider": "p", "model": "m",
                               "config": {"nested": {"OpenAI-API-Key": "x"}}}), "credential"),
        (body("bad-3", safety={"max_time_s": 5}), "safety"),
        (body("bad-4", policy={"model": "m"}), "provider"),
        (dict(body(), rollout_id="-starts-with-dash"), "rollout_id"),
        (body("bad-6", submission_mode="later"), "submission_mode"),
        (body("bad-7", candidate={"instructions": "typo"}), "instructions"),
        (body("bad-8", checkpoint_id="c1"), "checkpoint"),
    ]
    for b, word in cases:
        r = post(b)
        eq(r.status, 422, (word, r.body[:200]))
        ok(word in r.json()["detail"], (word, r.json()["detail"]))
    eq(request(Env.app, "POST", "/rollouts", b"{x").status, 400)
    # an unknown field whose name the message cuts mid-character (found by fuzz_contract)
    r = post(dict(body("bad-9"), **{"\ub111" * 60: 1}))
    eq(r.status, 422)
    ok("is not a field" in r.json()["detail"], r.body[:200])


@test
def a_candidate_becomes_the_prompt():
    demo = [{"query": "my card {has} not arrived", "intent": "card_arrival"}]
    r = post(body("cand-1", seed=2, candidate={"instruction": "Pick one intent.",
                                               "demonstrations": json.dumps(demo)}))
    eq(r.status, 200, r.body[:300])
    msgs = r.json()["turns"][0]["messages"]
    eq(msgs[0], {"role": "system", "content": "Pick one intent."})
    eq(msgs[1]["content"], "Customer Query: my card {has} not arrived")
    ok(msgs[-1]["role"] == "user" and "Customer Query:" in msgs[-1]["content"])
    # candidate_overlay over the candidate
    r = post(body("cand-2", seed=2, candidate={"instruction": "A"},
                  candidate_overlay={"candidate": {"instruction": "B"}}))
    eq(r.json()["turns"][0]["messages"][0]["content"], "B")


@test
def program_metadata_health_and_validation():
    p = request(Env.app, "GET", "/program").json()
    eq(p["version"], "prompt_program.v1")
    fields = [m["candidate_field"] for m in p["modules"] if m["mutable"]]
    eq(sorted(fields), ["demonstrations", "instruction", "user_template"])
    eq(sorted(p["seed_candidate"]), sorted(fields))
    ok(all(isinstance(v, str) for v in p["seed_candidate"].values()), "seed_candidate: strings")
    # the seed candidate, sent back, renders today's default prompt
    r = post(body("seed-cand", seed=4, candidate=p["seed_candidate"]))
    legacy = rollout(Env.app, 4, extra={"env": {"seed": 4, "config": {"split": "test"}}})
    eq(r.json()["turns"][0]["messages"], legacy.json()["trajectories"][0]["steps"][0]["info"]["messages"])
    m = request(Env.app, "GET", "/metadata").json()
    eq(m["contract_version"], "2026-05-28")
    eq(m["metadata"]["optimizer_contracts"]["gepa"]["program_route"], "/program")
    eq(request(Env.app, "GET", "/info").json()["contract_version"], "2026-05-28")
    eq(request(Env.app, "GET", "/health", key=None).json()["contract_version"], "2026-05-28")
    v = request(Env.app, "POST", "/validate-candidate",
                {"candidate_id": "c1", "artifact_kind": "prompt",
                 "artifact_payload": {"instruction": "Use {intents}."}}).json()
    eq((v["status"], v["errors"], v["candidate_id"]), ("valid", [], "c1"))
    ok(v["normalized_preview"].startswith("[system] Use "))
    v = request(Env.app, "POST", "/validate-candidate",
                {"candidate_id": "c2", "artifact_payload": {"instruction": "x {nope}"}}).json()
    eq(v["status"], "invalid")
    ok("nope" in v["errors"][0]["message"])


@test
def the_container_era_request_on_post_rollout():
    # synth-ai sdk/container/_impl/contracts.py RolloutRequest: trace_correlation_id
    # required, run_id gone, safety.max_time_s an integer
    req = {"trace_correlation_id": "trace_abc", "env": {"seed": 3, "config": {"split": "test"}},
           "policy": {"policy_id": "p", "config": {"model": "mock"}, "output_mode": "tool_calls"},
           "on_done": "reset", "safety": {"max_time_s": 3600}, "training_session_id": None,
           "synth_base_url": None, "context_overrides": None, "override_bundle_id": None}
    r = request(Env.app, "POST", "/rollout", req)
    eq(r.status, 200, r.body[:200])
    j = r.json()
    # RolloutResponse: trace_correlation_id, reward_info (metrics) with outcome_reward
    eq(j["trace_correlation_id"], "trace_abc")
    ok(isinstance(j["reward_info"]["outcome_reward"], float))
    ok(j["success_status"] in SUCCESS_STATUSES)
    ok(isinstance(j["trace"], dict) and isinstance(j["inference_url"], str))
    # the newest request on /rollout (the reference's alias)
    r = request(Env.app, "POST", "/rollout", body("alias-1", seed=3))
    eq((r.status, r.json()["rollout_id"]), (200, "alias-1"))


def setup():
    Env.mock = start_mock()
    Env.app = start_app(Env.mock, args=["--cache", "off"])
    return [("mock", Env.mock), ("app", Env.app)]


if __name__ == "__main__":
    sys.exit(run_suite("contract", TESTS, setup))
