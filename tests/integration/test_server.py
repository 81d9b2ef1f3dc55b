"""Integration tests: the real task app and mock LLM over loopback sockets.

Run: python3 tests/integration/test_server.py [NAME_FILTER]
Prints one line per failure and "integration: N passed, N failed" last.
"""
import concurrent.futures as cf
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, DATA, KEY, LOG_DIR, eq, ok, parked_rollouts, registry, request, rollout,  # noqa: E402
                     run_suite, start_app, start_mock)

TESTS, test = registry()


class Env:
    """Servers shared by the tests that need no special configuration."""
    mock = None
    app = None


def assert_error(r, status):
    eq(r.status, status, f"status (body {r.body[:300]!r})")
    ok(r.header("Content-Type") == "application/json", "error body is JSON")
    ok(isinstance(r.json().get("detail"), str) and r.json()["detail"], "error has a detail")


# ---- open routes, auth ----------------------------------------------------

@test
def root_and_health_are_open():
    a = Env.app
    r = request(a, "GET", "/", key=None)
    eq(r.status, 200)
    eq(r.json(), {"status": "ok", "service": "banking77"})
    eq(request(a, "HEAD", "/", key=None).status, 200)
    r = request(a, "GET", "/health", key=None)
    eq(r.status, 200)
    j = r.json()
    eq((j["status"], j["healthy"], j["authorized"], j["auth"]), ("healthy", True, False, {"required": True}))
    eq(request(a, "GET", "/health").json()["authorized"], True)
    r = request(a, "GET", "/health/rollout", key=None)
    eq((r.status, r.json()["ok"]), (200, True))


@test
def every_auth_form_is_accepted():
    a = Env.app
    forms = [{"X-API-Key": KEY}, {"x-api-key": KEY}, {"X-API-Keys": f"nope, {KEY}"},
             {"Authorization": f"Bearer {KEY}"}, {"authorization": f"bearer {KEY}"},
             {"Authorization": f"BEARER {KEY}"}]
    for h in forms:
        eq(request(a, "GET", "/info", headers=h, key=None).status, 200, f"auth form {h.keys()}")
    for h in [{}, {"X-API-Key": "wrong"}, {"Authorization": f"Basic {KEY}"},
              {"X-API-Key": KEY[:-1]}, {"X-API-Keys": "a,b"}]:
        r = request(a, "GET", "/task_info", headers=h, key=None)
        assert_error(r, 401)
        eq(r.header("WWW-Authenticate"), "Bearer")
        eq(r.json()["error"]["code"], "unauthorised")
        ok(KEY not in r.body.decode(), "no key material in the 401")
    for path, method in [("/info", "GET"), ("/rollout", "POST"), ("/done", "POST"),
                         ("/task_info", "GET"), ("/rollout", "OPTIONS")]:
        eq(request(a, method, path, key=None).status, 401, f"{method} {path} needs a key")


@test
def second_server_on_a_busy_port_refuses():
    # Each HTTP thread listens on its own SO_REUSEPORT socket; a second task
    # app on the same port must still fail instead of joining that group and
    # taking a share of the first one's connections.
    with start_app() as a:
        r = subprocess.run([os.path.join(BIN, "task-app"), "--port", str(a.port), "--data-dir", DATA],
                           capture_output=True, text=True, timeout=30,
                           env={"PATH": os.environ.get("PATH", ""), "ENVIRONMENT_API_KEY": KEY})
        ok(r.returncode != 0, "exit code")
        ok("cannot listen" in r.stderr and "in use" in r.stderr, r.stderr[-500:])
        for _ in range(20):  # and the first one is unharmed
            eq(request(a, "GET", "/health").status, 200)


@test
def unloadable_libcurl_stops_start_up():
    # The task app opens libcurl itself while the dataset loads; when it
    # cannot, it must say so and exit rather than serve and fail each rollout.
    with tempfile.TemporaryDirectory() as d:
        open(os.path.join(d, "libcurl.so.4"), "w").close()  # found first, not a library
        r = subprocess.run([os.path.join(BIN, "task-app"), "--port", "0", "--data-dir", DATA],
                           capture_output=True, text=True, timeout=30,
                           env={"PATH": os.environ.get("PATH", ""), "ENVIRONMENT_API_KEY": KEY,
                                "LD_LIBRARY_PATH": d})
    eq(r.returncode, 1, "exit code")
    ok("cannot load libcurl" in r.stderr and "libcurl.so.4" in r.stderr, r.stderr[-500:])
    ok("listening" not in r.stderr, "never listened")


@test
def idle_connections_are_closed():
    # Each HTTP thread runs libmicrohttpd from its own loop, which must wake
    # for libmicrohttpd's timeouts as well as for traffic.
    with start_app(args=["--idle-timeout", "1"]) as a:
        silent = socket.create_connection((a.host, a.port))
        partial = socket.create_connection((a.host, a.port))
        partial.sendall(b"GET /hea")
        for name, s in (("silent", silent), ("half a request line", partial)):
            s.settimeout(5)
            t0 = time.time()
            eq(s.recv(100), b"", f"{name}: closed by the server")
            ok(time.time() - t0 < 4, f"{name}: closed after {time.time() - t0:.1f} s")
            s.close()
        eq(request(a, "GET", "/health").status, 200)


@test
def aliases_and_dev_key():
    with start_app(key=None, env={"DEV_ENVIRONMENT_API_KEY": "devkey",
                                   "ENVIRONMENT_API_KEY_ALIASES": "alias-one,alias-two"}) as app:
        for k in ("devkey", "alias-one", "alias-two"):
            eq(request(app, "GET", "/info", key=k).status, 200, k)
        eq(request(app, "GET", "/info", key="alias").status, 401)


@test
def no_key_configured_is_503():
    with start_app(key=None) as app:
        r = request(app, "GET", "/health", key=None)
        eq((r.status, r.json()["healthy"], r.json()["status"]), (503, False, "unhealthy"))
        r = request(app, "GET", "/task_info", key="anything")
        assert_error(r, 503)
        eq(r.json()["detail"], "ENVIRONMENT_API_KEY is not configured")
        eq(r.json()["error"]["code"], "missing_environment_api_key")
        eq(request(app, "GET", "/", key=None).status, 200)


# ---- info routes ------------------------------------------------------------

@test
def info_and_taskset():
    a = Env.app
    j = request(a, "GET", "/info").json()
    eq(j["service"]["task"]["id"], "banking77")
    for k in ("dataset", "rubrics", "inference", "limits"):
        ok(k in j, k)
    eq(j["inference"], {**j["inference"], "supports_proxy": False, "tool": "banking77_classify"})
    eq(j["limits"], {"max_turns": 1})
    ok("outcome" in j["rubrics"] and "events" in j["rubrics"], "rubrics")
    j = request(a, "GET", "/task_info").json()
    ok(isinstance(j, dict), "object")
    ts = j["taskset"]
    eq((ts["id"], ts["name"], ts["version"], ts["splits"], ts["default_split"], ts["num_labels"]),
       ("banking77", "Banking77 Intent Classification", "1.0.0", ["train", "test"], "test", 77))
    eq(ts["sizes"], {"train": 10003, "test": 3080})
    eq((j["task_app_id"], j["dataset_size"]), ("banking77_intent_classification", 3080))
    labels = j["labels"]
    eq(len(labels), 77)
    eq((labels[0], labels[51], labels[52], labels[53], labels[76]),
       ("activate_my_card", "Refund_not_showing_up", "request_refund", "reverted_card_payment?",
        "wrong_exchange_rate_for_cash_withdrawal"))
    eq(labels, sorted(labels, key=str.lower))


@test
def task_info_per_seed():
    a = Env.app
    for k in range(15):
        r = request(a, "GET", f"/task_info?seed={k}")
        eq(r.status, 200, f"seed {k}")
        j = r.json()
        for key in ("task", "environment", "dataset", "rubric", "inference", "limits"):
            ok(key in j, key)
        ok(j["task"]["id"] and j["task"]["name"], "task id/name")
        eq(j["dataset"]["index"], k)
        crit = j["rubric"]["outcome"]["criteria"][0]
        ok(crit["id"] and crit["description"], "criterion")
        eq(crit["expected_answer"], j["task_metadata"]["expected_intent"])
        ok(j["rubric"]["outcome"]["name"], "rubric name")
    r = request(a, "GET", "/task_info?seeds=5&seeds=-1&seed=3080&split=train").json()
    eq([x["dataset"]["index"] for x in r], [5, 10002, 3080])
    eq({x["dataset"]["split"] for x in r}, {"train"})
    eq(request(a, "GET", "/task_info?seeds=1,2").json()[1]["dataset"]["index"], 2)
    assert_error(request(a, "GET", "/task_info?seed=abc"), 422)
    assert_error(request(a, "GET", "/task_info?seed=1&split=dev"), 422)
    eq(request(a, "GET", "/task_info?seed=-1").json()["dataset"]["index"], 3079)


@test
def unknown_paths_and_methods():
    a = Env.app
    r = request(a, "GET", "/nope")
    eq((r.status, r.json()), (404, {"detail": "Not Found"}))
    eq(request(a, "GET", "/nope", key=None).status, 404)
    r = request(a, "DELETE", "/health")
    assert_error(r, 405)
    ok("GET" in r.header("Allow"), "Allow")
    r = request(a, "GET", "/rollout")
    eq((r.status, r.header("Allow")), (405, "POST, OPTIONS"))
    r = request(a, "OPTIONS", "/rollout")
    eq((r.status, r.header("Allow")), (204, "POST, OPTIONS"))
    r = request(a, "POST", "/done", {})
    eq((r.status, r.json()), (200, {"ok": True, "service": "banking77"}))


# ---- rollouts ---------------------------------------------------------------

def step_of(j):
    return j["trajectories"][0]["steps"][0]


@test
def rollout_happy_path_shape():
    a = Env.app
    r = rollout(a, 42, extra={"trace_correlation_id": "tc-1", "policy": {
        "policy_id": "pol", "config": {"temperature": 0, "max_completion_tokens": 16}}})
    eq(r.status, 200, r.body[:300])
    j = r.json()
    eq((j["run_id"], j["trace_correlation_id"]), ("run-42", "tc-1"))
    t = j["trajectories"][0]
    eq((t["env_id"], t["policy_id"], t["length"]), ("banking77::test::42", "pol", 1))
    s = step_of(j)
    eq(s["obs"]["index"], 42)
    ok(isinstance(s["tool_calls"], list) and len(s["tool_calls"]) == 1, "tool_calls")
    ok(s["done"] is True, "done")
    info = s["info"]
    eq(s["reward"], 1.0 if info["correct"] else 0.0)
    eq(info["correct"], info["predicted_intent"].lower().replace("_", " ")
       == info["expected_intent"].lower().replace("_", " "))
    eq([m["role"] for m in info["messages"]], ["system", "user"])
    ok("inference_url" in info["meta"], "meta")
    m = j["metrics"]
    for k in ("episode_returns", "mean_return", "num_steps", "num_episodes", "outcome_score",
              "events_score", "outcome_reward", "outcome_objectives", "reward_mean", "details"):
        ok(k in m, k)
    eq(m["episode_returns"], [s["reward"]])
    eq(j["branches"], {})
    eq((j["aborted"], j["ops_executed"]), (False, 1))
    eq(j["trace"]["schema_version"], "3.0")
    ev = j["trace"]["event_history"][0]
    ok(ev["llm_request"]["messages"] and ev["llm_response"]["message"], "trace event")
    ok(isinstance(j["reward_info"]["outcome_reward"], float), "reward_info")
    eq(j["pipeline_metadata"]["inference_url"], j["inference_url"])
    ok(isinstance(t["final"]["reward"], float), "final")


@test
def rollout_ids_and_seeds():
    a = Env.app
    r = request(a, "POST", "/rollout", {"env": {"seed": "7"}, "policy": {"config": {
        "inference_url": Env.mock.url + "/v1?cid=trace_abc"}}}).json()
    eq(r["trace_correlation_id"], "trace_abc")
    eq(len(r["run_id"]), 36)
    eq(step_of(r)["obs"]["index"], 7)
    r = request(a, "POST", "/rollout", {"trace_correlation_id": "tc9", "env": {"config": {"seed": 8.0, "split": "train"}}}).json()
    eq((r["run_id"], step_of(r)["obs"]["index"], step_of(r)["obs"]["split"]), ("tc9", 8, "train"))
    r = request(a, "POST", "/rollout", {"env": {"seed": -1}}).json()
    eq(step_of(r)["obs"]["index"], 3079)
    r = request(a, "POST", "/rollout", {}).json()
    eq(step_of(r)["obs"]["index"], 0)


@test
def rollout_error_table():
    a = Env.app
    r = request(a, "POST", "/rollout", b"{not json")
    assert_error(r, 400)
    ok("line 1" in r.json()["detail"], "position in the detail")
    assert_error(request(a, "POST", "/rollout", b"[1,2]"), 400)
    assert_error(request(a, "POST", "/rollout", b'{"a":"\xff\xfe"}'), 400)
    assert_error(request(a, "POST", "/rollout", b'{"a":1,"a":2}'), 400)
    assert_error(request(a, "POST", "/rollout", b""), 400)
    for body, loc in [({"env": {"seed": "x"}}, ["body", "env", "seed"]),
                      ({"env": {"seed": 2 ** 64}}, ["body", "env", "seed"]),
                      ({"env": {"seed": 1.5}}, ["body", "env", "seed"]),
                      ({"env": {"config": {"split": "dev"}}}, ["body", "env", "config", "split"]),
                      ({"policy": {"config": {"prompt_template": "Hi {who}"}}},
                       ["body", "policy", "config", "prompt_template"]),
                      ({"policy": {"config": {"prompt_template": {"sections": [{"role": "x", "content": "y"}]}}}},
                       ["body", "policy", "config", "prompt_template", "sections", 0, "role"])]:
        r = request(a, "POST", "/rollout", body)
        assert_error(r, 422)
        eq(r.json()["errors"][0]["loc"], loc)
        ok(r.json()["errors"][0]["msg"], "msg")
    r = request(a, "POST", "/rollout", {"env": {"config": {"split": "dev"}}})
    ok("train" in r.json()["detail"] and "test" in r.json()["detail"], "valid splits named")
    r = request(a, "POST", "/rollout", {"policy": {"config": {"prompt_template": "Hi {who}"}}})
    ok("{who}" in r.json()["detail"], "placeholder named")


@test
def body_size_cap():
    a = Env.app
    # An announced over-size body is refused from the headers alone, before
    # the client sends it.
    with socket.create_connection((a.host, a.port), timeout=10) as s:
        s.sendall(f"POST /rollout HTTP/1.1\r\nHost: x\r\nX-API-Key: {KEY}\r\n"
                  f"Content-Type: application/json\r\nContent-Length: {2 ** 21}\r\n\r\n".encode())
        head = s.recv(65536).decode()
        ok(head.startswith("HTTP/1.1 413"), head[:100])
        ok('"detail"' in head, "413 body has a detail")
    # A chunked body is read to its end, then refused.
    big = b'{"pad":"' + b"x" * (1024 * 1024 + 10) + b'"}'
    assert_error(request(a, "POST", "/rollout", big, chunked=True), 413)
    eq(request(a, "GET", "/health").status, 200)


@test
def missing_model_and_url_without_defaults():
    with start_app() as app:
        r = rollout(app, 1)
        assert_error(r, 422)
        ok("inference_url" in r.json()["detail"], r.json()["detail"])
        r = rollout(app, 1, config={"inference_url": Env.mock.url})
        assert_error(r, 422)
        eq(r.json()["errors"][0]["loc"], ["body", "policy", "config", "model"])
        r = rollout(app, 1, config={"inference_url": Env.mock.url, "model": "m", "api_base": "x"})
        eq(r.status, 200)


@test
def prompt_templates_and_output_modes():
    a = Env.app
    secs = [{"role": "user", "content": "Customer Query: {text}", "order": 3},
            {"role": "system", "pattern": "Sys {{literal}} of {intents}", "order": 0},
            {"role": "user", "content": "Customer Query: I am still waiting on my card?", "order": 1},
            {"role": "assistant", "content": "card_arrival", "order": 2}]
    r = rollout(a, 0, config={"prompt_template": {"sections": secs}})
    eq(r.status, 200)
    msgs = step_of(r.json())["info"]["messages"]
    eq([m["role"] for m in msgs], ["system", "user", "assistant", "user"])
    ok(msgs[0]["content"].startswith("Sys {literal} of activate_my_card, age_limit"), msgs[0]["content"])
    eq(msgs[3]["content"], "Customer Query: How do I locate my card?")
    r = rollout(a, 0, config={"prompt_template": "Just classify."}).json()
    msgs = step_of(r)["info"]["messages"]
    eq((msgs[0]["content"], msgs[1]["role"]), ("Just classify.", "user"))
    ok("Available Intents" in msgs[1]["content"], "default user message appended")
    for mode in ("text", "structured"):
        j = rollout(a, 3, extra={"policy": {"output_mode": mode}}).json()
        s = step_of(j)
        eq(s["tool_calls"], [])
        ok(s["info"]["predicted_intent"], f"{mode} prediction")


@test
def mock_rewards_matching_demonstrations():
    """The mock LLM answers from the prompt: a demonstration of the query's own
    intent lifts accuracy (what the optimizer relies on)."""
    a = Env.app
    seeds = range(0, 3080, 40)
    def acc(template):
        with cf.ThreadPoolExecutor(16) as ex:
            rs = list(ex.map(lambda s: rollout(a, s, config={"prompt_template": template}).json(), seeds))
        return sum(step_of(r)["reward"] for r in rs) / len(rs)
    base = acc(None)
    # One demonstration per intent: a training query of each label.
    train = request(a, "GET", "/task_info?split=train&" + "&".join(
        f"seed={i}" for i in range(0, 10003, 65))).json()
    secs = [{"role": "system", "content": "Classify the banking query: answer with exactly one intent label."}]
    seen = set()
    for t in train:
        lab = t["task_metadata"]["expected_intent"]
        if lab in seen:
            continue
        seen.add(lab)
        secs += [{"role": "user", "content": "Customer Query: " + t["task_metadata"]["query"]},
                 {"role": "assistant", "content": lab}]
    secs.append({"role": "user", "content": "Customer Query: {query}\n\nAvailable Intents:\n{available_intents}"})
    with_demos = acc({"sections": secs})
    ok(with_demos > base, f"demos {with_demos:.3f} should beat zero-shot {base:.3f}")
    # A vague instruction does worse than one that states the task.
    vague = acc("You are a banking assistant.")
    ok(vague < base, f"vague instruction {vague:.3f} should trail the baseline {base:.3f}")


# ---- LLM servers as they are --------------------------------------------------

QUIRK_SEEDS = range(0, 3080, 150)


def quirk_rollouts(app, model, config=None, extra=None):
    out = []
    for seed in QUIRK_SEEDS:
        r = rollout(app, seed, config=dict({"model": model}, **(config or {})), extra=extra)
        eq(r.status, 200, r.body[:300])
        out.append(step_of(r.json()))
    return out


@test
def every_server_quirk_scores_like_a_clean_server():
    """Each mock quirk: the rollouts succeed with the same predictions (and
    rewards) as a server without it; a refused parameter is learned once and
    then sent right at once."""
    with start_mock() as mock, start_app(mock) as app:
        clean = quirk_rollouts(app, "mock")
        want = [(s["info"]["predicted_intent"], s["reward"]) for s in clean]
        ok(all(s["info"]["extraction"] == "tool_call" for s in clean), "a clean server: tool calls")
        ok(sum(r for _, r in want) > 0, "some right answers to compare")
        cases = [
            # quirk, extra rollout config, expected extraction, adaptation learned
            ("no-tools", {}, "label", "no_tools"),
            ("no-required", {}, "tool_call", "force_function"),
            ("no-temperature", {"temperature": 0}, "tool_call", "no_temperature"),
            ("completion-tokens-only", {"max_tokens": 32}, "tool_call", "max_completion_tokens"),
            ("max-tokens-only", {"max_completion_tokens": 32}, "tool_call", "max_tokens"),
            ("text-only", {}, "label", None),
            ("json-content", {}, "json", None),
            ("reasoning", {}, "tool_call", None),
            ("think-tags", {}, "label", None),
        ]
        for quirk, cfg, extraction, learned in cases:
            model = f"mock+quirk={quirk}"
            before = mock_completions(mock)
            got = quirk_rollouts(app, model, cfg)
            eq([(s["info"]["predicted_intent"], s["reward"]) for s in got], want, quirk)
            ok(all(s["info"]["extraction"] == extraction for s in got),
               f"{quirk}: extraction {[s['info']['extraction'] for s in got][:3]}")
            calls = mock_completions(mock) - before
            # one refused call when a parameter is learned, then each rollout right at once
            eq(calls, len(got) + (1 if learned else 0), f"{quirk}: {calls} LLM calls")
            if quirk == "reasoning":
                ok(all(s["info"]["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0 for s in got),
                   "reasoning tokens counted in usage")
        info = request(app, "GET", "/info").json()
        learned = {(a["model"], n) for a in info["llm_adaptations"] for n in a["adaptations"]}
        for quirk, _, _, name in cases:
            if name:
                ok((f"mock+quirk={quirk}", name) in learned, f"/info shows {quirk}: {learned}")
        metrics = request(app, "GET", "/metrics").body.decode()
        ok('b77_llm_adaptations_total{adaptation="no_tools"} 1' in metrics, "counted in /metrics")
        log = app.read_log()
        eq(log.count("refused a parameter for model mock+quirk=no-tools"), 1, "logged once")
    # structured mode against a server without response_format
    with start_mock("--quirk", "no-response-format") as mock, start_app(mock) as app:
        r = rollout(app, 7, extra={"policy": {"output_mode": "structured", "config": {}}})
        eq(r.status, 200, r.body[:300])
        ok(step_of(r.json())["info"]["predicted_intent"], "answered in text")


@test
def strict_params_passes_the_refusal_on():
    with start_mock() as mock, start_app(mock, args=["--strict-params"]) as app:
        r = rollout(app, 3, config={"model": "mock+quirk=no-temperature", "temperature": 0})
        eq(r.status, 502)
        ok("temperature" in r.json()["detail"], r.json()["detail"])
        eq(request(app, "GET", "/info").json()["llm_adaptations"], [])
    # a 400 for any other reason is passed on as before, with no second call
    with start_mock() as mock, start_app(mock) as app:
        before = mock_completions(mock)
        r = rollout(app, 3, config={"model": "mock+fault=400"})
        eq(r.status, 502)
        ok("HTTP 400" in r.json()["detail"] and "tool_calls" in r.json()["detail"], r.json()["detail"])
        eq(mock_completions(mock) - before, 1, "not resent")
        eq(request(app, "GET", "/info").json()["llm_adaptations"], [])


# ---- upstream faults ---------------------------------------------------------

def fault_rollout(spec, seed=1, safety=None, **kw):
    extra = {"safety": safety} if safety else None
    return rollout(Env.app, seed, config={"model": "mock+fault=" + spec}, extra=extra, **kw)


@test
def retry_429_then_success():
    r = fault_rollout("429*1", seed=11)
    eq(r.status, 200, r.body[:200])
    eq(step_of(r.json())["info"]["attempts"], 2)
    t0 = time.time()
    r = fault_rollout("429:1*1", seed=12)
    eq(r.status, 200)
    ok(time.time() - t0 >= 0.95, "Retry-After: 1 was honoured")
    r = fault_rollout("truncated*1", seed=13)
    eq((r.status, step_of(r.json())["info"]["attempts"]), (200, 2))
    # libcurl itself retries once when a reused connection dies, so count
    # only that the call succeeded.
    eq(fault_rollout("reset*2", seed=14).status, 200)
    r = fault_rollout("503*3", seed=15)
    eq((r.status, step_of(r.json())["info"]["attempts"]), (200, 4))


@test
def upstream_failures_are_502():
    r = fault_rollout("500", seed=21)
    assert_error(r, 502)
    ok("HTTP 500" in r.json()["detail"] and "1 attempts" in r.json()["detail"], r.json()["detail"])
    r = fault_rollout("503", seed=22)
    assert_error(r, 502)
    ok("4 attempts" in r.json()["detail"], r.json()["detail"])
    r = fault_rollout("malformed", seed=23)
    assert_error(r, 502)
    ok("not JSON" in r.json()["detail"], r.json()["detail"])
    r = fault_rollout("reset", seed=24)
    assert_error(r, 502)
    ok("4 attempts" in r.json()["detail"], r.json()["detail"])
    r = rollout(Env.app, 1, config={"inference_url": "http://127.0.0.1:1/v1"})
    assert_error(r, 502)


@test
def unusable_replies_score_zero():
    for spec, why in (("wrong_tool", "wrong tool"), ("no_intent", "intent")):
        r = fault_rollout(spec, seed=31)
        eq(r.status, 200)
        s = step_of(r.json())
        eq((s["reward"], s["info"]["correct"]), (0.0, False))
        ok(why in s["info"]["reason"], s["info"]["reason"])


@test
def deadline_is_504():
    t0 = time.time()
    r = fault_rollout("hang", seed=41, safety={"max_time_s": 1})
    assert_error(r, 504)
    ok(time.time() - t0 < 10, "answered at the deadline")
    eq(request(Env.app, "GET", "/health").status, 200)


@test
def credentials_sent_to_a_local_llm():
    rollout(Env.app, 2)
    s = request(Env.mock, "GET", "/mock/stats", key=None).json()
    eq(s["last_x_api_key"], KEY)  # interceptors identify the caller by its key
    eq(s["last_authorization"], "")
    with start_app(Env.mock, env={"LLM_API_KEY": "operator-secret"}) as app:
        rollout(app, 2)
        eq(request(Env.mock, "GET", "/mock/stats", key=None).json()["last_authorization"],
           "Bearer operator-secret")
    # Each call carries its own caller's key, whichever key the calls to the
    # same LLM before it carried (the server works the lines out once per
    # LLM origin and key, on each thread), over one kept-alive connection
    # and new ones alike.
    with start_app(Env.mock, env={"ENVIRONMENT_API_KEY_ALIASES": "second-key-5d1e"}) as app:
        for i, k in enumerate([KEY, "second-key-5d1e", KEY, "second-key-5d1e", "second-key-5d1e"]):
            eq(rollout(app, i, key=k).status, 200)
            eq(request(Env.mock, "GET", "/mock/stats", key=None).json()["last_x_api_key"], k,
               f"call {i}")
        # The same origin under another path: the same lines.
        other = f"http://127.0.0.1:{Env.mock.port}/other/v1/chat/completions"
        eq(rollout(app, 9, config={"inference_url": other}, key=KEY).status, 200)
        eq(request(Env.mock, "GET", "/mock/stats", key=None).json()["last_x_api_key"], KEY)


@test
def proxy_variables_are_honoured():
    # With no *_proxy variable the task app tells libcurl once that there is
    # no proxy; with one, libcurl reads them as it always does.
    closed = ["--llm-url", "http://127.0.0.1:1/v1", "--model", "mock"]
    via_mock = {"http_proxy": Env.mock.url}
    before = request(Env.mock, "GET", "/mock/stats", key=None).json()["completions"]
    with start_app(env=via_mock, args=closed) as app:
        eq(rollout(app, 3).status, 200)  # the mock, as the proxy, answered
    eq(request(Env.mock, "GET", "/mock/stats", key=None).json()["completions"], before + 1)
    with start_app(env=dict(via_mock, NO_PROXY="127.0.0.1"), args=closed) as app:
        assert_error(rollout(app, 3), 502)  # straight to the closed port


@test
def upstream_restart_between_rollouts():
    # Kept-alive connections to an LLM server that went away are noticed
    # (they stay watched between calls) and replaced, with no failed call.
    with start_mock() as m1, start_app(m1) as app:
        with cf.ThreadPoolExecutor(16) as ex:
            eq({r.status for r in ex.map(lambda i: rollout(app, i), range(48))}, {200})
        port = m1.port
        m1.stop(signal.SIGKILL)
        m1.check_exit = False
        time.sleep(0.2)
        # The dead connections' wake-ups are handled once, not spun on.
        t0 = app.cpu_ticks()
        time.sleep(1)
        ok(app.cpu_ticks() - t0 < 50, "the task app idles while its upstream is down")
        with start_mock("--port", str(port)) as m2:
            eq(m2.port, port)
            with cf.ThreadPoolExecutor(16) as ex:
                got = list(ex.map(lambda i: rollout(app, i), range(48, 96)))
            eq({r.status for r in got}, {200})
            eq({step_of(r.json())["info"]["attempts"] for r in got}, {1})


# ---- concurrency ---------------------------------------------------------------

@test
def inflight_cap_answers_503():
    with start_mock("--latency-ms", "1500") as mock, \
            start_app(mock, args=["--max-inflight", "2"]) as app:
        with cf.ThreadPoolExecutor(3) as ex:
            futs = [ex.submit(rollout, app, i) for i in range(2)]
            time.sleep(0.5)
            r = rollout(app, 9)
            assert_error(r, 503)
            eq(r.header("Retry-After"), "1")
            eq([f.result().status for f in futs], [200, 200])


@test
def three_hundred_parked_rollouts():
    # Long enough that all 300 are parked at once even on a loaded machine
    # (or under ThreadSanitizer) before the first one is answered.
    with start_mock("--latency-ms", "5000") as mock, start_app(mock) as app:
        threads_before = app.threads()
        n = 300
        with cf.ThreadPoolExecutor(n) as ex:
            futs = [ex.submit(rollout, app, i) for i in range(n)]
            inflight, health_ms = 0, None
            deadline = time.time() + 10
            while time.time() < deadline:
                t0 = time.time()
                h = request(app, "GET", "/health")
                health_ms = (time.time() - t0) * 1000
                inflight = h.json()["inflight"]
                if inflight >= n:
                    break
                time.sleep(0.05)
            eq(inflight, n, "all rollouts parked at once")
            eq(h.status, 200, "health answers while they wait")
            threads_during = app.threads()
            statuses = [f.result().status for f in futs]
        eq(statuses, [200] * n)
        eq(threads_during, threads_before, "no thread per rollout")
        print(f"    (300 parked: /health took {health_ms:.1f} ms, threads {threads_during})")


@test
def parked_rollouts_cost_no_cpu():
    # While the LLM takes its time, neither the task app nor the mock works:
    # both wait on timers, not in a loop (the mock's timer once spun here).
    with start_mock("--latency-ms", "3000") as mock, start_app(mock) as app:
        with parked_rollouts(app, 8, 2) as futs:
            a0, m0 = app.cpu_ticks(), mock.cpu_ticks()
            time.sleep(1)
            a1, m1 = app.cpu_ticks(), mock.cpu_ticks()
            statuses = [f.result().status for f in futs]
        eq(statuses, [200] * 8)
        ok(a1 - a0 < 30, f"task app idles while rollouts are parked ({a1 - a0} ticks in 1 s)")
        ok(m1 - m0 < 30, f"mock idles while its replies wait ({m1 - m0} ticks in 1 s)")


@test
def shutdown_lets_inflight_rollouts_finish():
    with start_mock("--latency-ms", "1000") as mock, start_app(mock) as app:
        with parked_rollouts(app, 20, 5) as futs:
            app.p.send_signal(signal.SIGTERM)
            statuses = [f.result().status for f in futs]
        eq(statuses, [200] * 20)
        eq(app.p.wait(10), 0, "exit code")
        try:
            request(app, "GET", "/health", timeout=2)
            raise AssertionError("still accepting after shutdown")
        except OSError:
            pass


@test
def shutdown_grace_expiry_answers_503():
    with start_mock("--latency-ms", "20000") as mock, start_app(mock, args=["--grace", "1"]) as app:
        with parked_rollouts(app, 5, 5) as futs:
            t0 = time.time()
            app.p.send_signal(signal.SIGTERM)
            rs = [f.result() for f in futs]
        for r in rs:
            assert_error(r, 503)
        eq(app.p.wait(10), 0, "exit code")
        ok(time.time() - t0 < 8, "grace period respected")


@test
def metrics_in_prometheus_format():
    a = Env.app
    eq(request(a, "GET", "/metrics", key=None).status, 401)
    def value(text, line_start):
        for l in text.splitlines():
            if l.startswith(line_start + " "):
                return float(l.split()[-1])
        return 0.0
    before = request(a, "GET", "/metrics").body.decode()
    rollout(a, 7)
    rollout(a, 8, config={"model": "mock+fault=500"})
    r = request(a, "GET", "/metrics")
    eq(r.status, 200)
    ok(r.header("Content-Type").startswith("text/plain"), "text format")
    after = r.body.decode()
    for name, delta in (('b77_requests_total{route="/rollout",status="200"}', 1),
                        ('b77_requests_total{route="/rollout",status="502"}', 1),
                        ('b77_upstream_results_total{result="500"}', 1),
                        ("b77_upstream_calls_total", 2)):
        eq(value(after, name) - value(before, name), delta, name)
    ok(value(after, 'b77_tokens_total{kind="total"}') > value(before, 'b77_tokens_total{kind="total"}'), "tokens")
    ok('b77_request_duration_seconds_bucket{route="/rollout",le="+Inf"}' in after, "histogram")
    # The gauge drops when libmicrohttpd reports a response sent, which can
    # come just after the client has read it (and asked /metrics of the
    # other thread): a gauge, not a counter, so it may lag a moment.
    deadline = time.time() + 2
    while "b77_rollouts_inflight 0\n" not in after and time.time() < deadline:
        time.sleep(0.01)
        after = request(a, "GET", "/metrics").body.decode()
    ok("b77_rollouts_inflight 0\n" in after, "gauge back to 0")


def mock_completions(mock):
    return request(mock, "GET", "/mock/stats", key=None).json()["completions"]


@test
def reply_cache_at_temperature_zero():
    a, m = Env.app, Env.mock
    cfg = {"temperature": 0, "model": "mock+cache-test"}
    before = mock_completions(m)
    first = rollout(a, 1234, config=cfg).json()
    eq(step_of(first)["info"]["cache"], "miss")
    second = rollout(a, 1234, config=cfg).json()
    eq(step_of(second)["info"]["cache"], "hit")
    eq(step_of(second)["info"]["attempts"], 0)
    eq(step_of(second)["info"]["predicted_intent"], step_of(first)["info"]["predicted_intent"])
    eq(mock_completions(m) - before, 1, "the hit made no upstream call")
    # a correlation id in the URL does not change the key
    url = m.url + "/v1?cid=trace_other"
    r = rollout(a, 1234, config=dict(cfg, inference_url=url)).json()
    eq(step_of(r)["info"]["cache"], "hit")
    # other temperatures are never cached
    r = rollout(a, 1234, config={"temperature": 0.7, "model": "mock+cache-test"}).json()
    eq(step_of(r)["info"]["cache"], "off")


@test
def identical_requests_in_flight_share_one_call():
    with start_mock("--latency-ms", "500") as mock, start_app(mock) as app:
        with cf.ThreadPoolExecutor(20) as ex:
            rs = list(ex.map(lambda i: rollout(app, 77, config={"temperature": 0}), range(20)))
        states = sorted(step_of(r.json())["info"]["cache"] for r in rs)
        eq([r.status for r in rs], [200] * 20)
        eq(mock_completions(mock), 1, "one upstream call for 20 identical requests")
        eq(states.count("miss"), 1)
        eq(states.count("shared") + states.count("hit"), 19)


@test
def cache_file_survives_a_restart():
    path = os.path.join(LOG_DIR, "replies.cache")
    with start_app(Env.mock, args=["--cache-file", path]) as app:
        eq(step_of(rollout(app, 4321, config={"temperature": 0}).json())["info"]["cache"], "miss")
    before = mock_completions(Env.mock)
    with start_app(Env.mock, args=["--cache-file", path]) as app:
        eq(step_of(rollout(app, 4321, config={"temperature": 0}).json())["info"]["cache"], "hit")
        eq(mock_completions(Env.mock), before, "no paid call after the restart")
        text = request(app, "GET", "/metrics").body.decode()
        ok('b77_cache_lookups_total{result="hit"} 1' in text, "hit counted")
    with start_app(Env.mock, args=["--cache", "off"]) as app:
        eq(step_of(rollout(app, 4321, config={"temperature": 0}).json())["info"]["cache"], "off")


# ---- logs ------------------------------------------------------------------------

@test
def one_log_line_per_request():
    a = Env.app
    rollout(a, 5, extra={"run_id": "log-check-run"})
    request(a, "GET", "/task_info")
    time.sleep(0.1)
    log = a.read_log()
    ok(any("POST /rollout 200" in l and "run_id=log-check-run" in l for l in log.splitlines()),
       "rollout line with status and run id")
    ok(any("GET /task_info 200" in l and "ms" in l for l in log.splitlines()), "task_info line")


# ---- runner ----------------------------------------------------------------------

def setup():
    Env.mock = start_mock()
    Env.app = start_app(Env.mock)
    return [("task-app", Env.app), ("mock-llm", Env.mock)]


if __name__ == "__main__":
    sys.exit(run_suite("integration", TESTS, setup))
