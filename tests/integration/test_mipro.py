"""End-to-end tests of bin/mipro against the real bin/task-app and
bin/mock-llm on loopback, with the walkthrough's config.

Run: python3 tests/integration/test_mipro.py [NAME_FILTER]
"""
import http.server
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, KEY, LOG_DIR, eq, ok, registry, request, run_suite, start_app,  # noqa: E402
                     start_mock, wait_until_paid)

MIPRO_BIN = os.environ.get("B77_MIPRO_BIN", os.path.join(BIN, "mipro"))
TESTS, test = registry()


class Env:
    mock = None
    app = None


WALKTHROUGH = """\
[prompt_learning]
algorithm = "mipro"
task_app_url = "{app}"
results_folder = "{results}"

[prompt_learning.policy]
provider = "openai"
model = "mock"
inference_url = "{mock}/v1"

[prompt_learning.termination_config]
budget = {budget}
max_time_seconds = 1800
target_score = {target}
{termination}
[prompt_learning.mipro]
num_iterations = 10
top_k = 2
num_bootstrap_seeds = 3
num_instructions_per_module = 4
num_demos = 2
optimize_instructions = true
optimize_demos = true
{extra}
[prompt_learning.initial_prompt]
sections = [ {{ role = "system", content = "You are a banking assistant ..." }} ]

[display]
show_curve = true
verbose_summary = true
show_trial_results = true
"""


def write_config(extra="", app=None, mock=None, budget=100, target=0.95, termination=""):
    d = tempfile.mkdtemp(dir=LOG_DIR, prefix="mipro-")
    results = os.path.join(d, "results")
    path = os.path.join(d, "mipro_config.toml")
    with open(path, "w") as f:
        f.write(WALKTHROUGH.format(app=app or Env.app.url, mock=(mock or Env.mock).url,
                                   results=results, extra=extra, budget=budget, target=target,
                                   termination=termination))
    return path, results


def run_mipro(config, *args, env=None, timeout=120):
    e = dict(os.environ, ENVIRONMENT_API_KEY=KEY)
    e.update(env or {})
    return subprocess.run([MIPRO_BIN, *args, config], capture_output=True, text=True,
                          timeout=timeout, env=e)


def spawn_mipro(config):
    """bin/mipro running in the background, its output piped."""
    return subprocess.Popen([MIPRO_BIN, config], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, ENVIRONMENT_API_KEY=KEY))


def load(results, name):
    with open(os.path.join(results, name)) as f:
        return json.load(f)


def completions():
    return request(Env.mock, "GET", "/mock/stats", key=None).json()["completions"]


@test
def walkthrough_config_end_to_end():
    config, results = write_config()
    before = completions()
    t = time.time()
    r = run_mipro(config)
    eq(r.returncode, 0, r.stderr + r.stdout[-2000:])
    ok(time.time() - t < 60, "the walkthrough's config finishes in seconds on the mock")
    out = r.stdout
    for banner in ("Phase 1: Bootstrap", "Seed 1/3: ", "Total instructions:", "Demo pool size:",
                   "Bootstrap complete", "Phase 2: TPE Optimization", "Baseline (the initial prompt)",
                   "Iteration 1/10... score:", "Optimization Complete", "Best Score:",
                   "Total Iterations:", "test split, ", "held-out examples", "Validation (train split"):
        ok(banner in out, f"output shows {banner!r}")
    best = load(results, "best_prompt.json")
    eq(best["instruction"]["role"], "system")
    ok(best["instruction"]["content"], "instruction text")
    ok(all(set(d) >= {"query", "label"} for d in best["demonstrations"]), "demonstrations")
    eq(best["heldout_score"]["split"], "test")
    ok(best["heldout"]["comparison"]["n"] == best["heldout_score"]["n"] > 0, "paired held-out")
    hist = load(results, "score_history.json")
    ok(hist["trials"][0]["kind"] == "baseline" and hist["trials"][0]["instruction_index"] == 0,
       "the first trial is the initial prompt on all validation rows")
    for t in hist["trials"]:
        ok(set(t) >= {"iteration", "instruction_index", "demo_set_index", "minibatch_size",
                      "score", "elapsed_s", "split", "kind"}, f"trial fields {sorted(t)}")
        eq(t["split"], "train")
    meta = load(results, "job_metadata.json")
    ok(meta["job_id"] and meta["started_at"] and meta["finished_at"], "job ids and times")
    c = meta["counts"]
    # the budget is the bill: every rollout and meta-model call, held-out included
    ok(c["spent"] <= 100, f"budget kept: {c}")
    eq(c["spent"], c["rollouts"] + c["meta_model_calls"])  # (held-out inside the budget)
    ok(completions() - before <= 100, f"{completions() - before} LLM calls for a budget of 100")
    ok(c["meta_model_calls"] == 12 and c["tokens"] > 0, f"counts {c}")
    ok(meta["termination_reason"] in ("num_iterations", "budget", "target_score"), meta["termination_reason"])
    demos = load(results, "selected_demos.json")
    for d in demos["demonstrations"]:
        ok(set(d) >= {"query", "label", "split", "index"}, f"demo fields {sorted(d)}")
        eq(d["split"], "train")
    with open(os.path.join(results, "trials.jsonl")) as f:
        eq(len([json.loads(l) for l in f]), len(hist["trials"]))
    # a winner other than the initial prompt won on validation by more than noise
    if not best["kept_initial"]:
        ok(best["validation"]["comparison"]["gain"] > 0, best["validation"])


@test
def budget_1000_gains_significantly_within_budget():
    """On the simulated model, MIPRO at budget 1,000 turns the walkthrough's
    prompt into one that is significantly better on held-out test rows, and
    never spends more than the budget (the mock counts the calls)."""
    for seed in ("0", "1", "2"):
        config, results = write_config(budget=1000)
        before = completions()
        r = run_mipro(config, "--seed", seed, "--quiet")
        eq(r.returncode, 0, r.stderr)
        calls = completions() - before
        best = load(results, "best_prompt.json")
        meta = load(results, "job_metadata.json")
        ok(calls <= 1000 and meta["counts"]["spent"] <= 1000, f"seed {seed}: {calls} calls, {meta['counts']}")
        cmp = best["heldout"]["comparison"]
        ok(cmp["gain"] > 0 and cmp["significant"] and cmp["p_value"] < 0.05, f"seed {seed}: {cmp}")
        ok(not best["kept_initial"], "a new prompt won")
        ok(len(best["instruction"]["content"]) <= 1500, "the instruction keeps the asked length")


@test
def target_score_is_judged_on_full_validation():
    config, results = write_config(budget=1000, target=0.5)
    r = run_mipro(config, "--quiet")
    eq(r.returncode, 0, r.stderr)
    meta = load(results, "job_metadata.json")
    eq(meta["termination_reason"], "target_score")
    hist = load(results, "score_history.json")
    full = [t for t in hist["trials"] if t["kind"] in ("baseline", "full")]
    ok(full and max(t["score"] for t in full) >= 0.5, f"a full validation score reached 0.5: {full}")
    eq(full[-1]["n"], hist["validation"]["n"])


@test
def holdout_budget_is_separate():
    config, results = write_config(budget=300, termination="holdout_budget = 400\n")
    before = completions()
    r = run_mipro(config, "--quiet")
    eq(r.returncode, 0, r.stderr)
    meta = load(results, "job_metadata.json")
    c = meta["counts"]
    ok(c["spent"] <= 300, f"search within budget: {c}")
    ok(c["spent_by_phase"]["heldout"] <= 400, c)
    best = load(results, "best_prompt.json")
    ok(best["heldout_score"]["n"] == 200, best["heldout_score"])
    ok(completions() - before <= 700, "both budgets kept")


@test
def random_search_baseline_runs():
    config, results = write_config(budget=300, extra='search = "random"\n')
    r = run_mipro(config)
    eq(r.returncode, 0, r.stderr)
    ok("Random search (baseline)" in r.stdout, r.stdout[-1500:])
    meta = load(results, "job_metadata.json")
    eq(meta["counts"]["meta_model_calls"], 12)  # no updates
    ok(meta["counts"]["spent"] <= 300, meta["counts"])


@test
def many_parallel_trials_are_capped():
    # --dry-run: the plan, with no LLM call and nothing written
    config, results = write_config(budget=20000, extra="parallel_trials = 64\nmax_concurrent = 64\n")
    before = completions()
    r = run_mipro(config, "--dry-run", "--jsonl")
    eq(r.returncode, 0, r.stderr)
    ev = json.loads(r.stdout.splitlines()[-1])
    eq(ev["event"], "plan")
    eq(ev["plan"]["trials_per_round"], 16, "capped (the budget would pay for more)")
    ok(ev["plan"]["total"] <= 20000, ev)
    eq(ev["spent"], 0)
    eq(completions(), before, "a dry run calls no LLM")
    ok(not os.path.exists(results), "a dry run writes nothing")
    r = run_mipro(config, "--dry-run")
    eq(r.returncode, 0, r.stderr)
    ok("Plan: " in r.stdout and "dry run: nothing spent" in r.stdout, r.stdout)


@test
def dry_run_plan_is_the_runs_plan():
    for algorithm in ("mipro", "gepa"):
        config, results = write_config(budget=300)
        if algorithm == "gepa":
            with open(config) as f:
                text = f.read().replace('algorithm = "mipro"', 'algorithm = "gepa"')
            with open(config, "w") as f:
                f.write(text)
        r = run_mipro(config, "--dry-run", "--jsonl", "--seed", "3")
        eq(r.returncode, 0, r.stderr)
        planned = json.loads(r.stdout.splitlines()[-1])["plan"]
        eq(run_mipro(config, "--quiet", "--seed", "3").returncode, 0)
        eq(load(results, "job_metadata.json")["config"]["plan"], planned, algorithm)


@test
def too_small_a_budget_is_a_clear_error():
    config, _ = write_config(budget=15)
    r = run_mipro(config)
    eq(r.returncode, 1)
    ok("too small" in r.stderr and "budget" in r.stderr, r.stderr)


@test
def same_seed_same_run():
    runs = []
    for _ in range(2):
        config, results = write_config()
        eq(run_mipro(config, "--seed", "0", "--quiet").returncode, 0)
        h = load(results, "score_history.json")
        runs.append([(t["instruction_index"], t["demo_set_index"], t["score"]) for t in h["trials"]]
                    + [h["final"]["best_score"], h["instructions"]])
    eq(runs[0], runs[1], "identical trials and result")


@test
def resume_repeats_no_call():
    config, results = write_config()
    eq(run_mipro(config, "--quiet").returncode, 0)
    before = completions()
    r = run_mipro(config, "--resume", "--quiet")
    eq(r.returncode, 0, r.stderr)
    eq(completions(), before, "no LLM call on a resumed finished run")
    meta = load(results, "job_metadata.json")
    eq(meta["counts"]["rollouts_reused_from_log"], meta["counts"]["rollouts"])


@test
def ctrl_c_writes_results_then_resume_finishes():
    with start_mock("--latency-ms", "300") as slow:
        config, results = write_config(mock=slow)
        p = spawn_mipro(config)
        wait_until_paid(results, p)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        eq(p.returncode, 130, err)
        ok("interrupted" in err, err)
        meta = load(results, "job_metadata.json")
        eq(meta["termination_reason"], "interrupted")
        done_before = meta["counts"]["rollouts"]
        r = run_mipro(config, "--resume", "--quiet", timeout=120)
        eq(r.returncode, 0, r.stderr)
        meta = load(results, "job_metadata.json")
        ok(meta["counts"]["rollouts_reused_from_log"] >= done_before - 20,
           f"reused {meta['counts']['rollouts_reused_from_log']} of {done_before}")
        ok(os.path.exists(os.path.join(results, "best_prompt.json")), "results written")


class HoldingProxy:
    """A loopback HTTP proxy in front of the task app that holds the first
    request whose path starts with `prefix` until released, and says when it
    arrived: the interrupt lands inside that request, deterministically."""

    def __init__(self, target, prefix):
        self.arrived, self.release = threading.Event(), threading.Event()
        proxy = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def forward(self):
                if self.path.startswith(prefix) and not proxy.arrived.is_set():
                    proxy.arrived.set()
                    proxy.release.wait(30)
                n = int(self.headers.get("Content-Length") or 0)
                req = urllib.request.Request(target + self.path, data=self.rfile.read(n) if n else None,
                                             method=self.command,
                                             headers={k: v for k, v in self.headers.items()
                                                      if k.lower() not in ("host", "connection")})
                try:
                    with urllib.request.urlopen(req, timeout=30) as r:
                        code, body, ctype = r.status, r.read(), r.headers.get("Content-Type")
                except urllib.error.HTTPError as e:
                    code, body, ctype = e.code, e.read(), e.headers.get("Content-Type")
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", ctype or "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client went away (interrupted)

            do_GET = do_POST = forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@test
def ctrl_c_during_a_task_info_request_is_an_interrupt():
    # Ctrl-C while a GET /task_info is in flight (the split sizes at the start;
    # the proposer's examples, GET /task_info?split=train&seeds=..., later) is
    # the user's interrupt (130), not a task app that stopped answering (1).
    for prefix, later in (("/task_info?split=train&seeds=", True), ("/task_info", False)):
        proxy = HoldingProxy(Env.app.url, prefix)
        try:
            config, results = write_config(app=proxy.url)
            p = spawn_mipro(config)
            ok(proxy.arrived.wait(60), f"the run asked for {prefix}")
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=30)
            eq(p.returncode, 130, err)
            ok("interrupted" in err and "task app" not in err, err)
            if later:
                eq(load(results, "job_metadata.json")["termination_reason"], "interrupted")
        finally:
            proxy.close()


@test
def jsonl_mode_is_machine_readable():
    config, _ = write_config()
    r = run_mipro(config, "--jsonl")
    eq(r.returncode, 0, r.stderr)
    events = [json.loads(l) for l in r.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    eq(kinds[0], "start")
    eq(kinds[-1], "done")
    ok(kinds.count("trial") >= 1 and "full_validation" in kinds, kinds)
    eq(events[-1]["split"], "test")
    ok(all("spent" in e for e in events), "every event says what was spent")


@test
def dead_task_app_is_a_clear_error():
    config, _ = write_config(app="http://127.0.0.1:1")
    r = run_mipro(config)
    eq(r.returncode, 1)
    ok("cannot reach the task app" in r.stderr, r.stderr)
    config, _ = write_config()
    r = run_mipro(config, env={"ENVIRONMENT_API_KEY": "wrong"})
    eq(r.returncode, 1)
    ok("refused" in r.stderr and "ENVIRONMENT_API_KEY" in r.stderr, r.stderr)


@test
def task_app_dying_mid_run_stops_with_a_message():
    with start_mock("--latency-ms", "200") as mock, start_app(mock) as app:
        config, results = write_config(app=app.url, mock=mock)
        p = spawn_mipro(config)
        wait_until_paid(results, p)  # mid-run
        app.check_exit = False  # killed on purpose
        app.stop(signal.SIGKILL)
        out, err = p.communicate(timeout=120)
        eq(p.returncode, 1, out[-500:] + err)
        ok("stopped answering" in err or "task_info failed" in err, err)
        eq(load(results, "job_metadata.json")["termination_reason"], "task_app_unreachable")


@test
def config_errors_and_warnings():
    config, _ = write_config(extra="num_demos_typo = 3\n")
    r = run_mipro(config, "--quiet")
    eq(r.returncode, 0, r.stderr)
    ok("unknown key prompt_learning.mipro.num_demos_typo" in r.stderr, r.stderr)
    config, _ = write_config(extra="batch_size = \"big\"\n")
    r = run_mipro(config)
    eq(r.returncode, 2)
    ok("mipro_config.toml:" in r.stderr and "prompt_learning.mipro.batch_size" in r.stderr, r.stderr)
    eq(subprocess.run([MIPRO_BIN, "--help"], capture_output=True).returncode, 0)


def setup():
    Env.mock = start_mock()
    Env.app = start_app(Env.mock)
    return [("task-app", Env.app), ("mock-llm", Env.mock)]


if __name__ == "__main__":
    sys.exit(run_suite("mipro", TESTS, setup))
