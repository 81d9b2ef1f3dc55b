#!/usr/bin/env bash
# MIPRO (or GEPA) walkthrough for the Banking77 task app, in six steps:
#   1 prerequisites   2 ENVIRONMENT_API_KEY   3 start the task app
#   4 write the config   5 run the optimizer   6 review the results
#
# Usage: bash scripts/run_interactive.sh [--yes] [--algorithm mipro|gepa] [--help]
#   --yes              run straight through (also the default when stdin is not a terminal)
#   --algorithm gepa   the seed's next step: GEPA instead of MIPRO (gepa_config.toml)
# Environment:
#   WORKING_DIR      where the files go (default /tmp/mipro_walkthrough, /tmp/gepa_walkthrough)
#   OPENAI_API_KEY   use OpenAI (model gpt-4o-mini, or MODEL)
#   GROQ_API_KEY     use Groq (model llama-3.1-8b-instant, or MODEL)
#   LLM_BASE_URL     any OpenAI-compatible server (Ollama, vLLM, llama.cpp); LLM_MODEL names the model
#   SYNTH_API_KEY    with uvx installed, step 5 can use the hosted Synth backend
#   TASK_APP_PORT    the task app's port (default 8002)
#   UI_PORT          the live page's port in step 5 (default: a free one, printed)
#   USE_MOCK_LLM=1   use the mock LLM even when a key is set (a demo: scores mean nothing)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PORT=${TASK_APP_PORT:-8002}
ASSUME_YES=0
ALGORITHM=mipro
[ -t 0 ] || ASSUME_YES=1
while [ $# -gt 0 ]; do
    case "$1" in
        --yes | -y) ASSUME_YES=1 ;;
        --algorithm)
            [ $# -ge 2 ] || { echo "--algorithm needs mipro or gepa" >&2; exit 2; }
            ALGORITHM=$2
            shift
            ;;
        --algorithm=*) ALGORITHM=${1#--algorithm=} ;;
        --help | -h)
            awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
            exit 0
            ;;
        *)
            echo "Unknown option: $1 (try --help)" >&2
            exit 2
            ;;
    esac
    shift
done
case "$ALGORITHM" in
    mipro | gepa) ;;
    *) echo "Unknown algorithm: $ALGORITHM (mipro or gepa)" >&2; exit 2 ;;
esac
ALGO_NAME=$( [ "$ALGORITHM" = gepa ] && echo GEPA || echo MIPRO )
WORKING_DIR=${WORKING_DIR:-/tmp/${ALGORITHM}_walkthrough}

BOLD=$'\033[1m'
GREEN=$'\033[32m'
RED=$'\033[31m'
YELLOW=$'\033[33m'
RESET=$'\033[0m'
if [ ! -t 1 ]; then BOLD="" GREEN="" RED="" YELLOW="" RESET=""; fi

TASK_APP_PID=""
MOCK_PID=""
PIDFILE="$WORKING_DIR/task_app.pid"
MOCK_PIDFILE="$WORKING_DIR/mock_llm.pid"

ok() { echo "${GREEN}✓${RESET} $*"; }
warn() { echo "${YELLOW}!${RESET} $*"; }
fail() {
    echo "${RED}✗ $1${RESET}" >&2
    [ $# -gt 1 ] && echo "  How to fix: $2" >&2
    exit 1
}
banner() {
    echo
    echo "${BOLD}════════════════════════════════════════════════════════════${RESET}"
    echo "${BOLD}Step $1: $2${RESET}"
    echo "${BOLD}════════════════════════════════════════════════════════════${RESET}"
}
pause() {
    [ "$ASSUME_YES" = 1 ] && return 0
    read -r -p "Press Enter to continue (Ctrl-C to stop)... " _ || true
}
ask_yes() { # question -> 0 for yes (the default)
    [ "$ASSUME_YES" = 1 ] && return 0
    local a
    read -r -p "$1 [Y/n] " a || a=y
    case "$a" in [nN]*) return 1 ;; *) return 0 ;; esac
}

# Stops only processes this script started, by their recorded pids.
stop_pidfile() { # pidfile name
    local pid
    [ -f "$1" ] || return 0
    pid=$(cat "$1" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
        tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "$2"; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    fi
    rm -f "$1"
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$TASK_APP_PID" ] || [ -f "$PIDFILE" ]; then
        stop_pidfile "$PIDFILE" task-app
        echo "Task app stopped."
    fi
    [ -n "$MOCK_PID" ] && stop_pidfile "$MOCK_PIDFILE" mock-llm
    exit "$rc"
}
trap cleanup EXIT
trap 'echo; warn "Interrupted."; exit 130' INT TERM

if [ "$ALGORITHM" = gepa ]; then
    echo "${BOLD}GEPA: Genetic-Pareto prompt evolution on Banking77${RESET}"
else
    echo "${BOLD}MIPRO: Multi-Instruction Prompt Optimization on Banking77${RESET}"
fi
echo "Working directory: $WORKING_DIR"
mkdir -p "$WORKING_DIR"

# ---------------------------------------------------------------------------
banner 1 "Prerequisites Check"
echo "Checking prerequisites..."
echo
missing=$("$ROOT/scripts/install-deps.sh" --check 2>/dev/null || true)
if [ -n "$missing" ]; then
    warn "Missing packages: $missing"
    if ask_yes "Install them now (apt-get, with sudo when not root)?"; then
        "$ROOT/scripts/install-deps.sh" || fail "Could not install: $missing" "run: sudo apt-get install $missing"
    else
        fail "Missing packages: $missing" "run: make deps"
    fi
fi
ok "Build tools and libraries installed (gcc, libmicrohttpd, jansson, libcsv, libcurl)"
if [ ! -f "$ROOT/dataset/train.csv" ] || [ ! -f "$ROOT/dataset/test.csv" ]; then
    echo "Fetching the Banking77 dataset..."
    make -s -C "$ROOT" dataset > /dev/null || fail "Could not fetch the dataset" \
        "set BANKING77_SOURCE to a folder with train.csv and test.csv, or check your network"
fi
ok "Banking77 dataset present (dataset/train.csv, dataset/test.csv)"
if ! make -s -C "$ROOT" -q bin/task-app bin/mipro bin/mock-llm 2> /dev/null; then
    echo "Building the binaries..."
    make -s -C "$ROOT" bin/task-app bin/mipro bin/mock-llm > "$WORKING_DIR/build.log" 2>&1 ||
        fail "The build failed (see $WORKING_DIR/build.log)" "run: make -C $ROOT"
fi
ok "Binaries built: bin/task-app, bin/mipro, bin/mock-llm"

PROVIDER="" MODEL_NAME="" INFERENCE_URL="" DEMO=0
if [ "${USE_MOCK_LLM:-0}" != 1 ] && [ -n "${OPENAI_API_KEY:-}" ]; then
    PROVIDER=openai MODEL_NAME=${MODEL:-gpt-4o-mini} INFERENCE_URL=https://api.openai.com/v1
    ok "OPENAI_API_KEY is set (model $MODEL_NAME)"
elif [ "${USE_MOCK_LLM:-0}" != 1 ] && [ -n "${GROQ_API_KEY:-}" ]; then
    PROVIDER=groq MODEL_NAME=${MODEL:-llama-3.1-8b-instant} INFERENCE_URL=https://api.groq.com/openai/v1
    ok "GROQ_API_KEY is set (model $MODEL_NAME)"
elif [ "${USE_MOCK_LLM:-0}" != 1 ] && [ -n "${LLM_BASE_URL:-}" ]; then
    PROVIDER=custom MODEL_NAME=${LLM_MODEL:-${MODEL:-default}} INFERENCE_URL=$LLM_BASE_URL
    ok "LLM_BASE_URL is set: $INFERENCE_URL (model $MODEL_NAME)"
else
    warn "No LLM configured (OPENAI_API_KEY, GROQ_API_KEY or LLM_BASE_URL)."
    echo "  The mock LLM (bin/mock-llm) can stand in: a DEMO. It is not a language model;"
    echo "  its scores only show that the machinery works and mean nothing about real prompts."
    ask_yes "Use the mock LLM?" || fail "No LLM to optimize against" \
        "export OPENAI_API_KEY=... (or GROQ_API_KEY, or LLM_BASE_URL for a local server) and re-run"
    DEMO=1
fi
HOSTED=0
if [ -n "${SYNTH_API_KEY:-}" ] && command -v uvx > /dev/null && [ "$DEMO" = 0 ]; then
    ok "SYNTH_API_KEY is set and uvx is installed: the hosted Synth backend is available"
    ask_yes "Use the hosted backend for step 5 (instead of the local optimizer)?" && HOSTED=1
elif [ -n "${SYNTH_API_KEY:-}" ]; then
    warn "SYNTH_API_KEY is set, but $( [ "$DEMO" = 1 ] && echo "the mock LLM is local only" || echo "uvx is not installed")"
    echo "  Step 5 will use the local optimizer (bin/mipro)."
else
    echo "  SYNTH_API_KEY not set: step 5 uses the local optimizer (bin/mipro); no account needed."
fi
echo
echo "All prerequisites met!"
pause

# ---------------------------------------------------------------------------
banner 2 "Generate ENVIRONMENT_API_KEY"
echo "Generating ENVIRONMENT_API_KEY..."
ENVIRONMENT_API_KEY="sk_env_$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export ENVIRONMENT_API_KEY
(umask 077 && printf '%s\n' "$ENVIRONMENT_API_KEY" > "$WORKING_DIR/env_key.txt")
chmod 600 "$WORKING_DIR/env_key.txt"
ok "ENVIRONMENT_API_KEY generated: ${ENVIRONMENT_API_KEY:0:12}... (saved to $WORKING_DIR/env_key.txt, mode 0600)"
echo
if [ "$HOSTED" = 1 ]; then
    echo "Registering key with backend..."
    echo "  uvx synth-ai train reads ENVIRONMENT_API_KEY from the environment and hands it to the"
    echo "  backend with the job, so the backend can call this task app."
    ok "Key exported for the hosted backend"
else
    echo "Registration with the hosted backend: skipped (the local optimizer calls the task app"
    echo "directly with this key; registration only matters for the hosted Synth backend)."
fi
pause

# ---------------------------------------------------------------------------
banner 3 "Start Banking77 Task App"
# A server left over from an earlier run of this script: stop it by its pid.
stop_pidfile "$PIDFILE" task-app
stop_pidfile "$MOCK_PIDFILE" mock-llm
if (exec 3<> "/dev/tcp/127.0.0.1/$PORT") 2> /dev/null; then
    fail "Port $PORT is already in use by another program" \
        "stop it (ss -ltnp 'sport = :$PORT' shows which), or run with TASK_APP_PORT=8003"
fi
if [ "$DEMO" = 1 ]; then
    echo "Starting the mock LLM (demo)..."
    "$ROOT/bin/mock-llm" --port 0 --data-dir "$ROOT/dataset" > "$WORKING_DIR/mock_llm.log" 2>&1 &
    MOCK_PID=$!
    echo "$MOCK_PID" > "$MOCK_PIDFILE"
    for _ in $(seq 1 100); do
        grep -q "listening on" "$WORKING_DIR/mock_llm.log" && break
        sleep 0.05
    done
    INFERENCE_URL="$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$WORKING_DIR/mock_llm.log" | head -n 1)/v1"
    [ "$INFERENCE_URL" != "/v1" ] || fail "The mock LLM did not start" "see $WORKING_DIR/mock_llm.log"
    PROVIDER=custom MODEL_NAME=mock
    ok "Mock LLM at $INFERENCE_URL (demo)"
fi
echo "Starting task app in background..."
"$ROOT/bin/task-app" --port "$PORT" --data-dir "$ROOT/dataset" > "$WORKING_DIR/task_app.log" 2>&1 &
TASK_APP_PID=$!
echo "$TASK_APP_PID" > "$PIDFILE"
echo "Task app PID: $TASK_APP_PID"
echo "Waiting for task app to start..."
healthy=0
for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$PORT/health" > /dev/null 2>&1; then
        healthy=1
        break
    fi
    kill -0 "$TASK_APP_PID" 2> /dev/null || break
    sleep 0.1
done
if [ "$healthy" = 0 ]; then
    echo "Last lines of $WORKING_DIR/task_app.log:" >&2
    tail -n 15 "$WORKING_DIR/task_app.log" >&2 || true
    fail "The task app did not become healthy within 10 s" "read the log above; is the dataset present (make dataset)?"
fi
ok "Task app is running at http://localhost:$PORT"
echo
echo "Fetching task info..."
curl -fsS -H "X-API-Key: $ENVIRONMENT_API_KEY" "http://127.0.0.1:$PORT/task_info" |
    sed -E 's/"labels":\["([^"]*)","([^"]*)","([^"]*)",[^]]*\]/"labels": ["\1", "\2", "\3", ...]/; s/"taskset":\{[^}]*\{[^}]*\}\},//' ||
    fail "GET /task_info failed" "see $WORKING_DIR/task_app.log"
echo
pause

# ---------------------------------------------------------------------------
banner 4 "Create $ALGO_NAME Configuration"
CONFIG="$WORKING_DIR/${ALGORITHM}_config.toml"
RESULTS="$WORKING_DIR/results"
if [ "$ALGORITHM" = mipro ]; then
cat > "$CONFIG" << TOML
[prompt_learning]
algorithm = "mipro"
task_app_url = "http://localhost:$PORT"
results_folder = "$RESULTS"

[prompt_learning.policy]
provider = "$([ "$PROVIDER" = groq ] && echo groq || echo openai)"
model = "$MODEL_NAME"
inference_url = "$INFERENCE_URL"

[prompt_learning.termination_config]
budget = 100                 # most rollouts + meta-model calls in the run, held-out included
max_time_seconds = 1800
target_score = 0.95          # stop early once reached

[prompt_learning.mipro]
# Optimization
num_iterations = 10          # search rounds (TPE)
top_k = 2                    # (kept for the SDK; the winner is chosen on validation)

# Bootstrap
num_bootstrap_seeds = 3      # meta-model rounds
num_instructions_per_module = 4  # instruction variants per round

# Demonstrations
num_demos = 2                # few-shot examples per candidate set
optimize_instructions = true
optimize_demos = true

[prompt_learning.initial_prompt]
sections = [ { role = "system", content = "You are a banking assistant ..." } ]

[display]
show_curve = true
verbose_summary = true
show_trial_results = true
TOML
else
cat > "$CONFIG" << TOML
[prompt_learning]
algorithm = "gepa"
task_app_url = "http://localhost:$PORT"
results_folder = "$RESULTS"

[prompt_learning.policy]
provider = "$([ "$PROVIDER" = groq ] && echo groq || echo openai)"
model = "$MODEL_NAME"
inference_url = "$INFERENCE_URL"

[prompt_learning.termination_config]
budget = 300                 # most rollouts + reflection calls in the run, held-out included
max_time_seconds = 1800
target_score = 0.95          # stop early once a validation score reaches it

[prompt_learning.gepa]
candidate_selection = "pareto"   # parents from the per-instance Pareto frontier
use_merge = true                 # merge two frontier candidates with a common ancestor

[prompt_learning.gepa.rollout]
minibatch_size = 3           # training examples each reflection sees
max_concurrent = 20

[prompt_learning.gepa.population]
children_per_generation = 4  # proposals in flight at once

[prompt_learning.initial_prompt]
sections = [ { role = "system", content = "You are a banking assistant ..." } ]

[display]
show_curve = true
show_trial_results = true
TOML
fi
ok "Configuration written to $CONFIG"
echo
sed -n '1,40p' "$CONFIG"
pause

# ---------------------------------------------------------------------------
banner 5 "Run the Optimization"
if [ "$HOSTED" = 1 ]; then
    echo "Submitting $ALGO_NAME optimization job..."
    echo "Executing: uvx synth-ai train \"$CONFIG\" --poll"
    uvx synth-ai train "$CONFIG" --poll || fail "The hosted job failed" \
        "check SYNTH_API_KEY, or unset it to use the local optimizer"
else
    [ "$DEMO" = 1 ] && warn "DEMO: the mock LLM is answering; the scores below mean nothing about real models."
    echo "Executing: bin/mipro --ui 127.0.0.1:${UI_PORT:-0} \"$CONFIG\""
    echo "(open the live page printed below in a browser to watch the run)"
    echo
    if ! "$ROOT/bin/mipro" --ui "127.0.0.1:${UI_PORT:-0}" "$CONFIG"; then
        echo "Last lines of $WORKING_DIR/task_app.log:" >&2
        tail -n 10 "$WORKING_DIR/task_app.log" >&2 || true
        fail "The optimization failed" \
            "read the message above; a 502 means the LLM call failed (key, model name, quota)"
    fi
fi
pause

# ---------------------------------------------------------------------------
banner 6 "Review Results"
if [ -d "$RESULTS" ]; then
    echo "Results directory contents:"
    ls -l "$RESULTS"
    echo
    "$ROOT/bin/mipro" --report "$RESULTS" || fail "No results to review" "re-run step 5"
else
    warn "No local results folder (the hosted job keeps its results in the Synth dashboard)."
fi
echo
echo "Files created:"
echo "  $WORKING_DIR/env_key.txt         ENVIRONMENT_API_KEY (mode 0600)"
echo "  $CONFIG   the configuration"
echo "  $WORKING_DIR/task_app.log        the task app's log"
echo "  $RESULTS/                        best_prompt.json, score_history.json, job_metadata.json,"
echo "                                   selected_demos.json, score_history.svg, report.html$( [ "$ALGORITHM" = gepa ] && echo ", gepa_lineage.jsonl")"
[ "$DEMO" = 1 ] && warn "This was a demo with the mock LLM. Set OPENAI_API_KEY (or GROQ_API_KEY, LLM_BASE_URL) for a real run."
echo
ok "Walkthrough complete"
if [ "$ALGORITHM" = mipro ]; then
    echo "Next steps: try GEPA (bash scripts/run_interactive.sh --algorithm gepa), then compare"
    echo "both on the same model, budget and rows (make compare)."
fi
