"""The report and the live page, in a real browser: headless Chromium (Debian's
chromium, installed by make test's set-up) loads bin/mipro's --ui page while
a run on the mock goes, and results/report.html after it. The DOM is checked
against the run's own files; screenshots are kept under build/screenshots/.

Run: python3 tests/integration/test_report.py [NAME_FILTER]
"""
import html.parser
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, KEY, LOG_DIR, ROOT, eq, ok, registry, run_suite, start_app, start_mock  # noqa: E402

MIPRO_BIN = os.environ.get("B77_MIPRO_BIN", os.path.join(BIN, "mipro"))
SHOTS = os.path.join(ROOT, "build", "screenshots")
TESTS, test = registry()
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Env:
    mock = None
    app = None


CONFIG = """\
[prompt_learning]
algorithm = "{algorithm}"
task_app_url = "{app}"
results_folder = "{results}"
[prompt_learning.policy]
model = "mock"
inference_url = "{mock}/v1"
[prompt_learning.termination_config]
budget = {budget}
holdout_budget = 600
[prompt_learning.mipro]
max_concurrent = 8
[prompt_learning.initial_prompt]
sections = [ {{ role = "system", content = "You are a banking assistant ..." }} ]
"""


def write_config(algorithm="mipro", budget=600, mock=None):
    d = tempfile.mkdtemp(dir=LOG_DIR, prefix="report-")
    results = os.path.join(d, "results")
    path = os.path.join(d, "config.toml")
    with open(path, "w") as f:
        f.write(CONFIG.format(algorithm=algorithm, app=Env.app.url, mock=(mock or Env.mock).url,
                              results=results, budget=budget))
    return path, results


def run_chromium(args, attempts=3, timeout=40):
    """Runs headless Chromium, its whole process group killed when it hangs:
    a live page that reloads itself (a new version of the run) during the
    virtual-time budget now and then leaves a screenshot waiting forever.
    Tried again then; the last attempt's result (or its timeout) stands."""
    for attempt in range(attempts):
        p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
        try:
            out, err = p.communicate(timeout=timeout)
            return out, err
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
            if attempt == attempts - 1:
                raise


def chromium(url, screenshot=None):
    """The DOM after load (scripts run), and the browser's console messages."""
    profile = tempfile.mkdtemp(dir=LOG_DIR, prefix="chromium-")
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-extensions", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
            "--window-size=1100,2400", "--virtual-time-budget=3000"]
    if screenshot:
        os.makedirs(SHOTS, exist_ok=True)
        run_chromium(args + [f"--screenshot={screenshot}", url])
    out, err = run_chromium(args + ["--dump-dom", url])
    shutil.rmtree(profile, ignore_errors=True)
    console = [l for l in err.splitlines() if "CONSOLE" in l or "Uncaught" in l]
    return out, console


class Structure(html.parser.HTMLParser):
    """Tags closed in order; every src/href local (no network)."""
    VOID = {"meta", "br", "img", "input", "link", "hr", "circle", "rect", "line", "polyline", "path"}

    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.external = [], [], []

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("src", "href") and v and re.match(r"^(https?:)?//", v):
                self.external.append(v)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
        else:
            self.stack.pop()


def count(pattern, text):
    return len(re.findall(pattern, text))


@test
def report_html_in_a_browser():
    config, results = write_config()
    r = subprocess.run([MIPRO_BIN, "--quiet", config], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, ENVIRONMENT_API_KEY=KEY))
    eq(r.returncode, 0, r.stderr)
    path = os.path.join(results, "report.html")
    with open(path) as f:
        page = f.read()
    s = Structure()
    s.feed(page)
    eq((s.errors, s.stack), ([], []), "well-formed HTML")
    ok(page.startswith("<!DOCTYPE html>") and "<title>" in page, "a document with a title")
    eq(s.external, [], "nothing loaded from the network")
    shot = os.path.join(SHOTS, "report.png")
    dom, console = chromium("file://" + path, screenshot=shot)
    eq(console, [], "no console messages or errors")
    ok(os.path.getsize(shot) > 10000, "a screenshot")
    with open(os.path.join(results, "score_history.json")) as f:
        hist = json.load(f)
    with open(os.path.join(results, "best_prompt.json")) as f:
        best = json.load(f)
    scored = [t for t in hist["trials"] if t["score"] is not None]
    eq(count(r'<circle class="pt ', dom), len(scored), "one chart point per trial")
    points = re.findall(r'data-iteration="(\d+)" data-score="([0-9.]+)"', dom)
    eq([(int(i), round(float(v), 4)) for i, v in points],
       [(t["iteration"], round(t["score"], 4)) for t in scored], "the points are the trial log")
    instr = re.search(r'<div class="prompt" id="instruction">(.*?)</div>', dom, re.S).group(1)
    plain = re.sub(r"<[^>]+>", "", re.sub(r"<del>.*?</del>", "", instr))
    eq(plain.split(), best["instruction"]["content"].replace("&", "&amp;").split(),
       "the winning instruction, as the diff shows it")
    body = re.search(r'<table id="intents".*?<tbody>(.*?)</tbody>', dom, re.S).group(1)
    eq(count(r"<tr>", body), 77, "77 intents")
    ok('id="heatmap"' in dom and 'id="confusions"' in dom, "confusions and heat map")
    ok(f'{best["heldout"]["winner"]["score"]:.3f}' in dom, "the held-out score")
    ok("bin/mipro --seed 0" in dom, "how to reproduce")


@test
def gepa_report_shows_the_frontier():
    config, results = write_config(algorithm="gepa", budget=300)
    r = subprocess.run([MIPRO_BIN, "--quiet", config], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, ENVIRONMENT_API_KEY=KEY))
    eq(r.returncode, 0, r.stderr)
    path = os.path.join(results, "report.html")
    dom, console = chromium("file://" + path, screenshot=os.path.join(SHOTS, "report-gepa.png"))
    eq(console, [], "no console messages")
    with open(os.path.join(results, "score_history.json")) as f:
        hist = json.load(f)
    eq(count(r'<circle class="pt ', dom), len([t for t in hist["trials"] if t["score"] is not None]),
       "one point per trial")
    ok('id="frontier"' in dom and "Pareto frontier" in dom, "the frontier over time")
    ok(any(t.get("frontier", 0) > 0 for t in hist["trials"]), "the frontier's size in the history")


@test
def live_page_while_the_run_goes():
    with start_mock("--latency-ms", "30") as slow:
        config, results = write_config(budget=900, mock=slow)
        p = subprocess.Popen([MIPRO_BIN, "--ui", "127.0.0.1:0", "--ui-keep", config], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=dict(os.environ, ENVIRONMENT_API_KEY=KEY))
        url = None
        deadline = time.time() + 60
        while time.time() < deadline and not url:
            line = p.stderr.readline()
            m = re.search(r"Live page: (http://\S+)", line)
            url = m and m.group(1)
        ok(url, "the live page's URL is printed")
        # while it runs: the progress bar and the phase
        while time.time() < deadline:
            dom, console = chromium(url)
            if 'id="live"' in dom and count(r'<circle class="pt ', dom) >= 2:
                break
            time.sleep(0.3)
        ok('id="live"' in dom and 'id="bar"' in dom and 'id="eta"' in dom, "progress, ETA while running")
        ok(re.search(r'id="spent">\d+<', dom), "spend so far")
        eq(console, [], "no console errors")
        chromium(url, screenshot=os.path.join(SHOTS, "live.png"))
        # after the run (--ui-keep): the final page, then Ctrl-C stops it
        line = ""
        while time.time() < deadline + 120 and "stays up" not in line:
            line = p.stderr.readline()
            if not line and p.poll() is not None:
                break
        ok("stays up" in line, f"--ui-keep: {line!r}")
        dom, console = chromium(url, screenshot=os.path.join(SHOTS, "live-final.png"))
        ok('id="live"' not in dom and 'id="winner-score"' in dom, "the final page with the held-out score")
        p.send_signal(2)
        eq(p.wait(timeout=30), 0, "exits after Ctrl-C")


def setup():
    if not CHROMIUM:
        raise RuntimeError("chromium is not installed (make test installs it: scripts/install-deps.sh --test)")
    Env.mock = start_mock()
    Env.app = start_app(Env.mock)
    return [("task-app", Env.app), ("mock-llm", Env.mock)]


if __name__ == "__main__":
    sys.exit(run_suite("report", TESTS, setup))
