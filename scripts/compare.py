"""make compare: MIPRO and GEPA on the same model, budget, seed and rows.

The seed's "Try both!" comparison, measured: both algorithms get the same
budget, the same validation rows (val_seeds) and the same held-out test rows
(test_pool), and the table says which achieved the higher held-out score
(with its 95% interval), how many rollouts and LLM calls each spent until its
best prompt was found, its wall time and its instruction's length. The chart
(score against rollouts spent) goes to build/compare/compare.svg.

By default both run against the mock LLM (offline; its scores only show the
machinery). With --inference-url URL --model NAME they run against that
server (the task app is started with the key variables of this environment).

Usage: python3 scripts/compare.py [--budget N] [--seed N] [--holdout N]
                                  [--inference-url URL --model NAME]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from harness import BIN, KEY, start_app, start_mock  # noqa: E402

MIPRO = """\
[prompt_learning]
algorithm = "mipro"
task_app_url = "{app}"
results_folder = "{results}"
[prompt_learning.policy]
model = "{model}"
inference_url = "{url}"
[prompt_learning.termination_config]
budget = {budget}
holdout_budget = {holdout_budget}
[prompt_learning.mipro]
num_iterations = 10
num_bootstrap_seeds = 3
num_instructions_per_module = 4
num_demos = 2
val_seeds = {val}
test_pool = {test}
[prompt_learning.initial_prompt]
sections = [ {{ role = "system", content = "You are a banking assistant ..." }} ]
"""

GEPA = """\
[prompt_learning]
algorithm = "gepa"
task_app_url = "{app}"
results_folder = "{results}"
[prompt_learning.policy]
model = "{model}"
inference_url = "{url}"
[prompt_learning.termination_config]
budget = {budget}
holdout_budget = {holdout_budget}
[prompt_learning.gepa.evaluation]
validation_seeds = {val}
test_pool = {test}
[prompt_learning.initial_prompt]
sections = [ {{ role = "system", content = "You are a banking assistant ..." }} ]
"""


def run(name, template, fields, work, seed):
    results = os.path.join(work, name)
    path = results + ".toml"
    with open(path, "w") as f:
        f.write(template.format(results=results, **fields))
    p = subprocess.run([os.path.join(BIN, "mipro"), "--quiet", "--seed", str(seed), path],
                       capture_output=True, text=True, env=dict(os.environ, ENVIRONMENT_API_KEY=KEY))
    if p.returncode != 0:
        sys.exit(f"compare: {name} failed ({p.returncode}):\n{p.stderr[-2000:]}")
    out = {}
    for f in ("best_prompt.json", "score_history.json", "job_metadata.json"):
        with open(os.path.join(results, f)) as fh:
            out[f] = json.load(fh)
    return out


def curve(hist):
    """(spent, best full-validation score so far) after each full score."""
    pts, best = [], None
    for t in hist["trials"]:
        if t["kind"] in ("baseline", "full") and t["score"] is not None:
            if best is None or t["score"] > best:
                best = t["score"]
            pts.append((t["spent"], best))
    return pts


def found_at(hist):
    pts = curve(hist)
    top = max(s for _, s in pts)
    return next(sp for sp, s in pts if s == top)


def svg(curves, budget, path):
    w, h, pad = 720, 380, 56
    lo = min(s for c in curves.values() for _, s in c)
    hi = max(s for c in curves.values() for _, s in c)
    lo, hi = max(0.0, lo - 0.05), min(1.0, hi + 0.05)
    x = lambda sp: pad + (w - 2 * pad) * sp / max(budget, 1)  # noqa: E731
    y = lambda s: h - pad - (h - 2 * pad) * (s - lo) / max(hi - lo, 1e-9)  # noqa: E731
    colors = {"MIPRO": "#2a6fdb", "GEPA": "#d9480f"}
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
         'font-family="sans-serif" font-size="12">', '<rect width="100%" height="100%" fill="white"/>',
         f'<text x="{pad}" y="24" font-size="16">MIPRO and GEPA: best validation score against '
         'rollouts spent</text>']
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        o.append(f'<line x1="{pad}" y1="{y(v):.1f}" x2="{w - pad}" y2="{y(v):.1f}" stroke="#e5e5e5"/>')
        o.append(f'<text x="{pad - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.2f}</text>')
    for k in range(6):
        sp = budget * k / 5
        o.append(f'<text x="{x(sp):.1f}" y="{h - pad + 16}" text-anchor="middle">{sp:.0f}</text>')
    o.append(f'<text x="{w / 2}" y="{h - 12}" text-anchor="middle">rollouts and LLM calls spent</text>')
    for i, (name, pts) in enumerate(curves.items()):
        step, prev = [], None
        for sp, s in pts:
            if prev is not None:
                step.append(f"{x(sp):.1f},{y(prev):.1f}")
            step.append(f"{x(sp):.1f},{y(s):.1f}")
            prev = s
        c = colors.get(name, "#333")
        o.append(f'<polyline points="{" ".join(step)}" fill="none" stroke="{c}" stroke-width="2.5"/>')
        for sp, s in pts:
            o.append(f'<circle cx="{x(sp):.1f}" cy="{y(s):.1f}" r="3.5" fill="{c}">'
                     f'<title>{name}: {s:.3f} after {sp}</title></circle>')
        o.append(f'<rect x="{w - pad - 120}" y="{44 + 18 * i}" width="12" height="12" fill="{c}"/>'
                 f'<text x="{w - pad - 102}" y="{54 + 18 * i}">{name}</text>')
    o.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(o) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--holdout", type=int, default=300, help="held-out test rows per prompt")
    ap.add_argument("--validation", type=int, default=100, help="validation rows (train split)")
    ap.add_argument("--inference-url")
    ap.add_argument("--model")
    a = ap.parse_args()
    work = os.path.join(ROOT, "build", "compare")
    os.makedirs(work, exist_ok=True)
    # the same rows for both, spread over the splits (the CSVs are grouped by intent)
    val = "[" + ", ".join(str(i * (10003 // a.validation) + 1) for i in range(a.validation)) + "]"
    step = max(1, 3080 // a.holdout)
    test = "[" + ", ".join(str(i * step) for i in range(a.holdout)) + "]"
    mock = None if a.inference_url else start_mock()
    try:
        app = start_app(mock) if mock else start_app(env={k: v for k, v in os.environ.items()
                                                          if k.endswith("_API_KEY")})
        try:
            fields = dict(app=app.url, model=a.model or "mock",
                          url=a.inference_url or mock.url + "/v1", budget=a.budget,
                          holdout_budget=2 * a.holdout, val=val, test=test)
            got = {"MIPRO": run("mipro", MIPRO, fields, work, a.seed),
                   "GEPA": run("gepa", GEPA, fields, work, a.seed)}
        finally:
            app.stop()
    finally:
        if mock:
            mock.stop()
    rows = []
    for name, r in got.items():
        best, hist, meta = r["best_prompt.json"], r["score_history.json"], r["job_metadata.json"]
        win = best["heldout"]["winner"]
        ini = best["heldout"]["initial"]
        cmp = best["heldout"]["comparison"]
        rows.append((name, f"{win['score']:.3f} [{win['ci95_low']:.3f}, {win['ci95_high']:.3f}]",
                     f"{cmp['gain']:+.3f} (p = {cmp['p_value']:.2g})", f"{found_at(hist)}",
                     f"{meta['counts']['spent']}", f"{meta['counts']['llm_calls']}",
                     f"{meta['duration_s']:.1f} s", f"{len(best['instruction']['content'])}"))
        initial = f"{ini['score']:.3f} [{ini['ci95_low']:.3f}, {ini['ci95_high']:.3f}]"
    heads = ("", "held-out score [95% CI]", "gain over initial", "budget spent until best",
             "budget spent", "LLM calls (with held-out)", "wall time", "instruction chars")
    print(f"Same model ({a.model or 'mock'}), budget {a.budget}, seed {a.seed}, {a.validation} validation "
          f"rows, the same {a.holdout} held-out test rows (initial prompt {initial}):\n")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]
    print("  ".join(h.ljust(widths[i]) for i, h in enumerate(heads)))
    for r in rows:
        print("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)))
    mi, ge = got["MIPRO"]["best_prompt.json"], got["GEPA"]["best_prompt.json"]
    d = ge["heldout"]["winner"]["score"] - mi["heldout"]["winner"]["score"]
    print(f"\nHigher held-out score: {'GEPA' if d > 0 else 'MIPRO' if d < 0 else 'a tie'} "
          f"({abs(d):.3f} apart on {a.holdout} rows; intervals above)")
    print(f"Faster to its best: {'MIPRO' if found_at(got['MIPRO']['score_history.json']) <= found_at(got['GEPA']['score_history.json']) else 'GEPA'} "
          "(rollouts and calls spent when the best validation score was first reached)")
    print("More interpretable: read both prompts: build/compare/mipro/best_prompt.json (an instruction "
          "and demonstrations), build/compare/gepa/best_prompt.json (one evolved instruction)")
    curves = {name: curve(r["score_history.json"]) for name, r in got.items()}
    path = os.path.join(work, "compare.svg")
    svg(curves, a.budget, path)
    print(f"Chart: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
