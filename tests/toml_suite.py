"""Runs bin/toml-decode over the official toml-test cases (TOML 1.0.0):
every valid case must decode to its .json (compared as toml-test does:
numbers by value, date-times normalised), every invalid one must be rejected.

Usage: python3 tests/toml_suite.py [TOML_TEST_DIR] [DECODER]
"""
import concurrent.futures
import json
import math
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUITE = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "toml-test")
DECODER = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "bin", "toml-decode")


def norm_dt(s):
    s = s.upper().replace(" ", "T")
    # compare fractional seconds to the millisecond, as toml-test does
    if "." in s:
        head, rest = s.split(".", 1)
        digits = ""
        while rest and rest[0].isdigit():
            digits += rest[0]
            rest = rest[1:]
        digits = (digits + "000")[:3]
        s = f"{head}.{digits}{rest}"
    else:
        for i in (19, 8):  # after seconds in a date-time or a time
            if len(s) >= i and s[i - 3] == ":" and (len(s) == i or not s[i].isdigit()):
                s = s[:i] + ".000" + s[i:]
                break
    return s


def same(want, got, path="$"):
    if isinstance(want, dict) and set(want) == {"type", "value"} and isinstance(want["value"], str):
        if not (isinstance(got, dict) and got.get("type") == want["type"]):
            return f"{path}: want {want}, got {got}"
        w, g, t = want["value"], got["value"], want["type"]
        if t == "float":
            wf, gf = float(w), float(g)
            if (math.isnan(wf) and math.isnan(gf)) or wf == gf:
                return None
            return f"{path}: float {w} != {g}"
        if t == "integer":
            return None if int(w) == int(g) else f"{path}: integer {w} != {g}"
        if t in ("datetime", "datetime-local", "date-local", "time-local"):
            return None if norm_dt(w) == norm_dt(g) else f"{path}: {t} {w} != {g}"
        return None if w == g else f"{path}: {t} {w!r} != {g!r}"
    if isinstance(want, dict):
        if not isinstance(got, dict) or set(want) != set(got):
            return f"{path}: keys {sorted(want)} != {sorted(got) if isinstance(got, dict) else got}"
        for k in want:
            d = same(want[k], got[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(want, list):
        if not isinstance(got, list) or len(want) != len(got):
            return f"{path}: array length differs"
        for i, (a, b) in enumerate(zip(want, got)):
            d = same(a, b, f"{path}[{i}]")
            if d:
                return d
        return None
    return None if want == got else f"{path}: {want!r} != {got!r}"


def check(rel):
    """What is wrong with the decoder's answer for one case, or None."""
    path = os.path.join(SUITE, rel)
    with open(path, "rb") as f:
        data = f.read()
    r = subprocess.run([DECODER], input=data, capture_output=True, timeout=10)
    if rel.startswith("valid/"):
        if r.returncode != 0:
            return "rejected: " + r.stderr.decode(errors="replace").strip()
        with open(path[:-5] + ".json") as f:
            want = json.load(f)
        try:
            return same(want, json.loads(r.stdout))
        except ValueError as e:
            return f"bad JSON output: {e}"
    if r.returncode == 0:
        return "accepted an invalid document"
    if r.returncode != 1:
        return f"exit code {r.returncode} (crash?)"
    return None


def main():
    with open(os.path.join(SUITE, "files-toml-1.0.0")) as f:
        files = [l.strip() for l in f if l.strip().endswith(".toml")]
    passed = failed = 0
    # one decoder process per case, as many at once as there are cores
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for rel, problem in zip(files, pool.map(check, files)):
            if problem:
                failed += 1
                print(f"FAIL {rel}: {problem}")
            else:
                passed += 1
    print(f"toml-test: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
