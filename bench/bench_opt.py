"""make bench-opt: does optimization work? MIPRO and GEPA against random
search at the same budgets, against the mock LLM's simulated model
(bin/mock-llm with the dataset), on loopback.

For each budget and seed it runs bin/mipro with the walkthrough's config
(MIPRO with search = "tpe", then search = "random", then GEPA with its
defaults), then scores the prompt each run
returns and the initial prompt on the same EVAL_ROWS test rows through the
task app (outside the run's budget), so every gain is measured on the same
rows whatever the run's own held-out phase was. Prints a table and writes
build/bench-opt.json.

Environment: BENCH_OPT_BUDGETS (100,300,1000), BENCH_OPT_SEEDS (5),
BENCH_OPT_EVAL_ROWS (1000).
"""
import concurrent.futures as cf
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from harness import BIN, KEY, ROOT, request, start_app, start_mock  # noqa: E402

BUDGETS = [int(b) for b in os.environ.get("BENCH_OPT_BUDGETS", "100,300,1000").split(",")]
SEEDS = int(os.environ.get("BENCH_OPT_SEEDS", "5"))
EVAL_ROWS = int(os.environ.get("BENCH_OPT_EVAL_ROWS", "1000"))
INITIAL = "You are a banking assistant ..."

CONFIG = """\
[prompt_learning]
algorithm = "mipro"
task_app_url = "{app}"
results_folder = "{results}"

[prompt_learning.policy]
model = "mock"
inference_url = "{mock}/v1"

[prompt_learning.termination_config]
budget = {budget}
max_time_seconds = 1800
target_score = 0.95

[prompt_learning.mipro]
num_iterations = 10
top_k = 2
num_bootstrap_seeds = 3
num_instructions_per_module = 4
num_demos = 2
optimize_instructions = true
optimize_demos = true
max_concurrent = 32
search = "{search}"

[prompt_learning.initial_prompt]
sections = [ {{ role = "system", content = "{initial}" }} ]
"""


def accuracy(app, template, rows):
    def one(seed):
        cfg = {"prompt_template": template} if template is not None else {}
        body = {"env": {"seed": seed, "config": {"split": "test"}}, "policy": {"config": cfg}}
        r = request(app, "POST", "/rollout", body=body)
        return r.json()["trajectories"][0]["steps"][0]["reward"] if r.status == 200 else 0.0
    with cf.ThreadPoolExecutor(32) as ex:
        return sum(ex.map(one, rows)) / len(rows)


GEPA_CONFIG = """\
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

[prompt_learning.gepa]
rollout = {{ max_concurrent = 32 }}

[prompt_learning.initial_prompt]
sections = [ {{ role = "system", content = "{initial}" }} ]
"""

ALGORITHMS = [("mipro", "tpe"), ("random", "random"), ("gepa", None)]


def one_run(app, mock, budget, seed, search, work):
    results = os.path.join(work, f"{search or 'gepa'}-b{budget}-s{seed}")
    path = results + ".toml"
    with open(path, "w") as f:
        template = GEPA_CONFIG if search is None else CONFIG
        f.write(template.format(app=app.url, mock=mock.url, results=results, budget=budget,
                                search=search, initial=INITIAL))
    t = time.time()
    p = subprocess.run([os.path.join(BIN, "mipro"), "--quiet", "--seed", str(seed), path],
                       capture_output=True, text=True, env=dict(os.environ, ENVIRONMENT_API_KEY=KEY))
    secs = time.time() - t
    if p.returncode != 0:
        raise RuntimeError(f"mipro failed ({p.returncode}): {p.stderr[-2000:]}")
    with open(os.path.join(results, "best_prompt.json")) as f:
        best = json.load(f)
    with open(os.path.join(results, "job_metadata.json")) as f:
        meta = json.load(f)
    return best, meta, secs


def main():
    work = tempfile.mkdtemp(prefix="b77-bench-opt-")
    # rows 0, 3, 6, ... of the test split: spread over it, the same for every run
    step = max(1, 3080 // EVAL_ROWS)
    rows = [i * step for i in range(EVAL_ROWS)]
    out = {"eval_rows": EVAL_ROWS, "budgets": BUDGETS, "seeds": SEEDS, "runs": []}
    with start_mock() as mock, start_app(mock, args=["--cache", "on"]) as app:
        base = accuracy(app, {"sections": [{"role": "system", "content": INITIAL}]}, rows)
        out["initial_accuracy"] = base
        print(f"initial prompt: {base:.3f} on {EVAL_ROWS} test rows")
        print(f"{'budget':>6} {'search':>7} {'gain mean':>9} {'sd':>6} {'min':>7} {'max':>7} "
              f"{'spent max':>9} {'significant':>11} {'s/run':>6}")
        for budget in BUDGETS:
            for name, search in ALGORITHMS:
                gains, spent, sig, secs = [], [], 0, []
                for seed in range(SEEDS):
                    best, meta, s = one_run(app, mock, budget, seed, search, work)
                    acc = accuracy(app, best["prompt_template"], rows)
                    gains.append(acc - base)
                    spent.append(meta["counts"]["spent"])
                    secs.append(s)
                    cmp = best.get("heldout", {}).get("comparison", {})
                    sig += bool(cmp.get("significant"))
                    out["runs"].append({"budget": budget, "search": name, "seed": seed,
                                        "accuracy": acc, "gain": acc - base,
                                        "spent": meta["counts"]["spent"],
                                        "kept_initial": best.get("kept_initial"),
                                        "run_heldout": cmp, "seconds": s})
                sd = statistics.stdev(gains) if len(gains) > 1 else 0.0
                print(f"{budget:>6} {name:>7} {statistics.mean(gains):>+9.3f} {sd:>6.3f} "
                      f"{min(gains):>+7.3f} {max(gains):>+7.3f} {max(spent):>9} "
                      f"{sig:>5}/{SEEDS:<5} {statistics.mean(secs):>6.1f}")
                out.setdefault("table", []).append({
                    "budget": budget, "search": name, "gain_mean": statistics.mean(gains),
                    "gain_sd": sd, "gain_min": min(gains), "gain_max": max(gains),
                    "gain_median": statistics.median(gains), "spent_max": max(spent),
                    "significant_runs": sig})
    os.makedirs(os.path.join(ROOT, "build"), exist_ok=True)
    with open(os.path.join(ROOT, "build", "bench-opt.json"), "w") as f:
        json.dump(out, f, indent=2)
    print("JSON: build/bench-opt.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
