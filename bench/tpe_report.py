"""Combines tpe_bench.c and tpe_optuna.py output into one table (and JSON)."""
import json
import statistics
import sys

c = json.load(open(sys.argv[1]))
o = json.load(open(sys.argv[2]))
rows = [("C TPE (this project)", c["c_tpe"]), ("Optuna TPE " + o["optuna_tpe"]["version"], o["optuna_tpe"]),
        ("random search", c["random"])]
print(f"TPE benchmark: {c['space'][0]} instructions x {c['space'][1]} demo sets, minibatch "
      f"{c['minibatch']}, {c['seeds']} seeds, at most {c['max_trials']} trials")
print(f"{'method':<24} {'median trials to top 5%':>24} {'mean':>8} {'us/suggestion':>14}")
out = {}
for name, r in rows:
    h = r["trials_to_top5"]
    print(f"{name:<24} {statistics.median(h):>24.1f} {statistics.mean(h):>8.1f} {r['us_per_suggestion']:>14.1f}")
    out[name] = {"median": statistics.median(h), "mean": statistics.mean(h),
                 "us_per_suggestion": r["us_per_suggestion"]}
speed = o["optuna_tpe"]["us_per_suggestion"] / c["c_tpe"]["us_per_suggestion"]
print(f"C TPE is {speed:.0f}x faster per suggestion than Optuna")
out["speedup"] = speed
json.dump(out, open(sys.argv[3], "w"), indent=2)
