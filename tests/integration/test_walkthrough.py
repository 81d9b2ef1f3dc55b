"""The six-step walkthrough, run as a newcomer would with --yes against the
mock LLM, in a temporary working directory (twice: the second run must work
right after the first).

Run: python3 tests/integration/test_walkthrough.py [NAME_FILTER]
"""
import json
import os
import socket
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, LOG_DIR, ROOT, SCRUB, eq, ok, registry, run_suite  # noqa: E402

SCRIPT = os.path.join(ROOT, "scripts", "run_interactive.sh")
TESTS, test = registry()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def walkthrough(workdir, port, args=("--yes",), stdin=None):
    env = {k: v for k, v in os.environ.items() if k not in SCRUB + ("SYNTH_API_KEY",)}
    env.update(WORKING_DIR=workdir, TASK_APP_PORT=str(port))
    return subprocess.run(["bash", SCRIPT, *args], capture_output=True, text=True, env=env,
                          timeout=180, stdin=stdin)


def processes_with(fragment):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if fragment in cmd and ("task-app" in cmd or "mock-llm" in cmd):
            found.append(cmd)
    return found


def check_files(workdir, port):
    key = os.path.join(workdir, "env_key.txt")
    eq(stat.S_IMODE(os.stat(key).st_mode), 0o600, "env_key.txt mode")
    with open(key) as f:
        k = f.read().strip()
    ok(len(k) >= 40, "a strong key")
    cfg = os.path.join(workdir, "mipro_config.toml")
    with open(cfg, "rb") as f:
        r = subprocess.run([os.path.join(BIN, "toml-decode")], input=f.read(), capture_output=True)
    eq(r.returncode, 0, "mipro_config.toml is valid TOML")
    tree = json.loads(r.stdout)
    pl = tree["prompt_learning"]
    eq(pl["task_app_url"]["value"], f"http://localhost:{port}")
    eq(pl["mipro"]["num_iterations"]["value"], "10")
    with open(os.path.join(workdir, "task_app.log")) as f:
        log = f.read()
    ok("listening on" in log and "POST /rollout 200" in log, "task_app.log holds the server's log")
    ok(k not in log, "the key is not logged")
    res = os.path.join(workdir, "results")
    for name in ("best_prompt.json", "score_history.json", "job_metadata.json",
                 "selected_demos.json"):
        with open(os.path.join(res, name)) as f:
            json.load(f)
    with open(os.path.join(res, "best_prompt.json")) as f:
        best = json.load(f)
    eq(best["instruction"]["role"], "system")
    with open(os.path.join(res, "score_history.svg")) as f:
        svg = f.read()
    ok(svg.startswith("<svg") and "circle" in svg and svg.rstrip().endswith("</svg>"), "an SVG chart")


@test
def gepa_walkthrough_runs_the_same_six_steps():
    workdir = tempfile.mkdtemp(dir=LOG_DIR, prefix="walkthrough-gepa-")
    port = free_port()
    r = walkthrough(workdir, port, args=("--yes", "--algorithm", "gepa"))
    eq(r.returncode, 0, f"{r.stdout[-3000:]}\n{r.stderr[-2000:]}")
    out = r.stdout
    for n, title in enumerate(("Prerequisites Check", "Generate ENVIRONMENT_API_KEY",
                               "Start Banking77 Task App", "Create GEPA Configuration",
                               "Run the Optimization", "Review Results"), 1):
        ok(f"Step {n}: {title}" in out, f"banner of step {n}")
    for line in ("GEPA Prompt Optimization", "Evolution (reflective mutation", "Optimization Complete",
                 "Trial scores", "Walkthrough complete"):
        ok(line in out, f"output shows {line!r}")
    cfg = os.path.join(workdir, "gepa_config.toml")
    with open(cfg, "rb") as f:
        d = subprocess.run([os.path.join(BIN, "toml-decode")], input=f.read(), capture_output=True)
    eq(d.returncode, 0, "gepa_config.toml is valid TOML")
    eq(json.loads(d.stdout)["prompt_learning"]["algorithm"]["value"], "gepa")
    res = os.path.join(workdir, "results")
    for name in ("best_prompt.json", "score_history.json", "job_metadata.json", "gepa_lineage.jsonl"):
        ok(os.path.exists(os.path.join(res, name)), name)
    eq(processes_with(workdir), [], "nothing left running")


@test
def walkthrough_twice_leaves_nothing_running():
    workdir = tempfile.mkdtemp(dir=LOG_DIR, prefix="walkthrough-")
    port = free_port()
    for run in (1, 2):
        r = walkthrough(workdir, port)
        eq(r.returncode, 0, f"run {run}:\n{r.stdout[-3000:]}\n{r.stderr[-2000:]}")
        out = r.stdout
        for n, title in enumerate(("Prerequisites Check", "Generate ENVIRONMENT_API_KEY",
                                   "Start Banking77 Task App", "Create MIPRO Configuration",
                                   "Run the Optimization", "Review Results"), 1):
            ok(f"Step {n}: {title}" in out, f"banner of step {n}")
        for line in ("✓ ENVIRONMENT_API_KEY generated", "✓ Task app is running",
                     "DEMO", "Phase 1: Bootstrap", "Optimization Complete", "Trial scores",
                     "Walkthrough complete", "Task app stopped."):
            ok(line in out, f"output shows {line!r}")
        check_files(workdir, port)
        eq(processes_with(f"--port {port}"), [], "task app stopped")
        eq(processes_with(workdir), [], "nothing left running")
        ok(not os.path.exists(os.path.join(workdir, "task_app.pid")), "pid file removed")


@test
def no_terminal_means_no_prompts():
    workdir = tempfile.mkdtemp(dir=LOG_DIR, prefix="walkthrough-")
    r = walkthrough(workdir, free_port(), args=(), stdin=subprocess.DEVNULL)
    eq(r.returncode, 0, r.stderr[-2000:])
    ok("Press Enter" not in r.stdout, "no pauses without a terminal")


@test
def busy_port_is_explained():
    workdir = tempfile.mkdtemp(dir=LOG_DIR, prefix="walkthrough-")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        r = walkthrough(workdir, s.getsockname()[1])
    eq(r.returncode, 1)
    ok("already in use" in r.stderr and "TASK_APP_PORT" in r.stderr, r.stderr)


@test
def shellcheck_clean():
    r = subprocess.run(["shellcheck", SCRIPT], capture_output=True, text=True)
    eq(r.returncode, 0, r.stdout)


if __name__ == "__main__":
    sys.exit(run_suite("walkthrough", TESTS, lambda: []))
