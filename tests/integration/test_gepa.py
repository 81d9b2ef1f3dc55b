"""End-to-end tests of GEPA (bin/mipro with algorithm = "gepa") against the
real bin/task-app and bin/mock-llm on loopback: the mock is the policy model
and the reflection model, answering from the mistakes it is shown.

Run: python3 tests/integration/test_gepa.py [NAME_FILTER]
"""
import concurrent.futures as cf
import json
import os
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BIN, KEY, LOG_DIR, eq, ok, registry, request, run_suite, start_app,  # noqa: E402
                     start_mock, wait_until_paid)

MIPRO_BIN = os.environ.get("B77_MIPRO_BIN", os.path.join(BIN, "mipro"))
TESTS, test = registry()
INITIAL = "You are a banking assistant ..."


class Env:
    mock = None
    app = None


CONFIG = """\
[prompt_learning]
algorithm = "gepa"
task_app_url = "{app}"
results_folder = "{results}"

[prompt_learning.policy]
model = "mock"
inference_url = "{mock}/v1"

[prompt_learning.termination_config]
budget = {budget}
max_time_seconds = 1800
{termination}
[prompt_learning.gepa]
{extra}
[prompt_learning.initial_prompt]
sections = [ {{ role = "system", content = "{initial}" }} ]
"""


def write_config(budget=300, extra="", termination="", mock=None):
    d = tempfile.mkdtemp(dir=LOG_DIR, prefix="gepa-")
    results = os.path.join(d, "results")
    path = os.path.join(d, "gepa_config.toml")
    with open(path, "w") as f:
        f.write(CONFIG.format(app=Env.app.url, mock=(mock or Env.mock).url, results=results,
                              budget=budget, extra=extra, termination=termination, initial=INITIAL))
    return path, results


def run(config, *args, timeout=180):
    return subprocess.run([MIPRO_BIN, *args, config], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, ENVIRONMENT_API_KEY=KEY))


def load(results, name):
    with open(os.path.join(results, name)) as f:
        return json.load(f)


def completions():
    return request(Env.mock, "GET", "/mock/stats", key=None).json()["completions"]


def accuracy(template, rows):
    def one(seed):
        body = {"env": {"seed": seed, "config": {"split": "test"}},
                "policy": {"config": {"prompt_template": template}}}
        return request(Env.app, "POST", "/rollout", body=body).json()["trajectories"][0]["steps"][0]["reward"]
    with cf.ThreadPoolExecutor(16) as ex:
        return sum(ex.map(one, rows)) / len(rows)


@test
def gepa_end_to_end_with_a_significant_gain():
    """Budget 300 (search) with 300 test rows per prompt paid by holdout_budget."""
    config, results = write_config(budget=300, termination="holdout_budget = 600\n")
    before = completions()
    r = run(config)
    eq(r.returncode, 0, r.stderr + r.stdout[-2000:])
    for banner in ("GEPA Prompt Optimization", "Baseline (the initial prompt)",
                   "Evolution (reflective mutation on the Pareto frontier)", "on its minibatch against the parent's",
                   "Optimization Complete", "Best Score:", "test split, 300 held-out examples"):
        ok(banner in r.stdout, f"output shows {banner!r}")
    meta = load(results, "job_metadata.json")
    c = meta["counts"]
    ok(c["spent"] <= 300 and c["spent_by_phase"]["heldout"] <= 600, c)
    ok(completions() - before <= 900, f"{completions() - before} LLM calls for budgets of 300 + 600")
    ok(c["meta_model_calls"] >= 1, "reflection calls counted")
    eq(meta["config"]["algorithm"], "gepa")
    best = load(results, "best_prompt.json")
    cmp = best["heldout"]["comparison"]
    ok(cmp["significant"] and cmp["gain"] > 0, cmp)
    hist = load(results, "score_history.json")
    eq(hist["algorithm"], "gepa")
    cands = hist["candidates"]
    eq(cands[0]["origin"], "seed")
    ok(any(x["origin"] == "reflection" and x["parent"] >= 0 for x in cands), "children with parents")
    ok(any(x["frontier_weight"] > 0 for x in cands), "a frontier")
    with open(os.path.join(results, "gepa_lineage.jsonl")) as f:
        events = [json.loads(l) for l in f]
    refl = [e for e in events if e["event"] == "reflection"]
    ok(refl and all(e["reflection_saw"] and "child_minibatch" in e for e in refl), refl[:1])
    ok(any(e["accepted"] for e in refl), "some child accepted")
    ok(all((e["child_minibatch"] > e["parent_minibatch"]) == e["accepted"] for e in refl),
       "accepted exactly when better on the same minibatch")
    for name in ("selected_demos.json", "trials.jsonl", "rollouts.jsonl"):
        ok(os.path.exists(os.path.join(results, name)), name)


@test
def gepa_budget_1000_significant_and_within_budget():
    for seed in ("0", "1"):
        config, results = write_config(budget=1000, termination="holdout_budget = 600\n")
        before = completions()
        r = run(config, "--seed", seed, "--quiet")
        eq(r.returncode, 0, r.stderr)
        c = load(results, "job_metadata.json")["counts"]
        ok(c["spent"] <= 1000 and completions() - before <= 1600, f"seed {seed}: {c}")
        cmp = load(results, "best_prompt.json")["heldout"]["comparison"]
        ok(cmp["significant"] and cmp["gain"] > 0.04, f"seed {seed}: {cmp}")


@test
def gepa_budget_100_never_makes_it_worse():
    rows = list(range(0, 3000, 10))
    base = accuracy({"sections": [{"role": "system", "content": INITIAL}]}, rows)
    for seed in ("0", "1", "2"):
        config, results = write_config(budget=100)
        r = run(config, "--seed", seed, "--quiet")
        eq(r.returncode, 0, r.stderr)
        ok(load(results, "job_metadata.json")["counts"]["spent"] <= 100, "budget kept")
        got = accuracy(load(results, "best_prompt.json")["prompt_template"], rows)
        ok(got >= base - 0.01, f"seed {seed}: {got:.3f} against the initial {base:.3f} on 300 test rows")


@test
def gepa_same_seed_same_run_and_resume_repeats_no_call():
    runs = []
    for _ in range(2):
        config, results = write_config(budget=300, extra="candidate_selection = \"epsilon_greedy\"\n")
        eq(run(config, "--seed", "4", "--quiet").returncode, 0)
        h = load(results, "score_history.json")
        runs.append([(x["instruction"], x["parent"], x["validation_score"]) for x in h["candidates"]])
    eq(runs[0], runs[1], "identical pools")
    before = completions()
    r = run(config, "--seed", "4", "--resume", "--quiet")
    eq(r.returncode, 0, r.stderr)
    eq(completions(), before, "no LLM call on a resumed finished run")
    c = load(results, "job_metadata.json")["counts"]
    eq(c["rollouts_reused_from_log"], c["rollouts"])


@test
def gepa_ctrl_c_writes_results_then_resume_finishes():
    with start_mock("--latency-ms", "200") as slow:
        config, results = write_config(budget=300, mock=slow)
        p = subprocess.Popen([MIPRO_BIN, config], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, ENVIRONMENT_API_KEY=KEY))
        wait_until_paid(results, p)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        eq(p.returncode, 130, err)
        eq(load(results, "job_metadata.json")["termination_reason"], "interrupted")
        r = run(config, "--resume", "--quiet", timeout=180)
        eq(r.returncode, 0, r.stderr)
        ok(load(results, "job_metadata.json")["counts"]["rollouts_reused_from_log"] > 0, "reused")


@test
def gepa_current_best_selection_and_no_merge():
    config, results = write_config(budget=300, extra="candidate_selection = \"current_best\"\nuse_merge = false\n")
    r = run(config)
    eq(r.returncode, 0, r.stderr)
    ok("Merge of" not in r.stdout, "no merge")
    h = load(results, "score_history.json")
    ok(all(x["origin"] != "merge" for x in h["candidates"]), "no merged candidate")


def setup():
    Env.mock = start_mock()
    Env.app = start_app(Env.mock)
    return [("task-app", Env.app), ("mock-llm", Env.mock)]


if __name__ == "__main__":
    sys.exit(run_suite("gepa", TESTS, setup))
