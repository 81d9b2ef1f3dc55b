#!/usr/bin/env bash
# Runs every test suite: unit tests (plain and ASan+UBSan), the integration
# suite against the plain, the ASan+UBSan and (task app) ThreadSanitizer
# builds, and shellcheck. Ends with one line: "N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 1
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1"
export B77_DATA_DIR="${B77_DATA_DIR:-dataset}"

passed=0
failed=0
summary=()

# Runs one suite; its last line must be "...: N passed, N failed".
suite() {
    local name=$1
    shift
    echo "=== $name"
    local out rc t0=$SECONDS
    out=$("$@" 2>&1)
    rc=$?
    echo "$out"
    # kept for a look after a failure: build/test-logs/NAME.log
    mkdir -p build/test-logs
    printf '%s\n' "$out" > "build/test-logs/$(printf '%s' "$name" | tr -c 'a-zA-Z0-9+\n' '-').log"
    local line p f
    line=$(printf '%s\n' "$out" | grep -E '[0-9]+ passed, [0-9]+ failed' | tail -n 1)
    p=$(printf '%s' "$line" | sed -E 's/.* ([0-9]+) passed.*/\1/')
    f=$(printf '%s' "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    if [ -z "$line" ]; then
        p=0
        f=1
        echo "FAIL $name: no summary line (exit $rc)"
    elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "FAIL $name: exit code $rc"
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    summary+=("$name: $p passed, $f failed ($((SECONDS - t0)) s)")
}

mkdir -p build/tsan-bin
ln -sf ../tsan/bin/task-app build/tsan-bin/task-app

suite "unit" build/unit-tests
suite "unit (asan+ubsan)" build/asan/unit-tests
suite "integration" python3 tests/integration/test_server.py
suite "integration (asan+ubsan)" env B77_BIN=build/asan/bin python3 tests/integration/test_server.py
suite "integration (tsan task-app)" env B77_BIN=build/tsan-bin B77_MOCK_BIN=bin \
    python3 tests/integration/test_server.py

suite "mipro end-to-end" python3 tests/integration/test_mipro.py
suite "mipro end-to-end (asan+ubsan)" env B77_BIN=build/asan/bin python3 tests/integration/test_mipro.py
suite "gepa end-to-end" python3 tests/integration/test_gepa.py
suite "gepa end-to-end (asan+ubsan)" env B77_BIN=build/asan/bin python3 tests/integration/test_gepa.py

suite "hardening" python3 tests/integration/test_hardening.py
suite "reply store" python3 tests/integration/test_store.py
suite "reply store (asan+ubsan)" env B77_BIN=build/asan/bin python3 tests/integration/test_store.py
suite "reply store (tsan task-app)" env B77_BIN=build/tsan-bin B77_MOCK_BIN=bin python3 tests/integration/test_store.py
suite "redis store" python3 tests/integration/test_redis.py
suite "redis store (asan+ubsan)" env B77_BIN=build/asan/bin python3 tests/integration/test_redis.py
suite "redis store (tsan task-app)" env B77_BIN=build/tsan-bin B77_MOCK_BIN=bin python3 tests/integration/test_redis.py
suite "contract (POST /rollouts)" python3 tests/integration/test_contract.py
suite "contract (asan+ubsan)" env B77_BIN=build/asan/bin B77_CONTRACT_PENDING=200 \
    python3 tests/integration/test_contract.py
suite "contract (tsan task-app)" env B77_BIN=build/tsan-bin B77_MOCK_BIN=bin B77_CONTRACT_PENDING=200 \
    python3 tests/integration/test_contract.py
suite "rate limits" python3 tests/integration/test_ratelimit.py
suite "rate limits (tsan task-app)" env B77_BIN=build/tsan-bin B77_MOCK_BIN=bin B77_RATELIMIT_THREADS=1 \
    python3 tests/integration/test_ratelimit.py
suite "hardening (asan+ubsan)" env B77_BIN=build/asan/bin python3 tests/integration/test_hardening.py clients
suite "hardening, idle LLM connections (asan+ubsan)" env B77_BIN=build/asan/bin \
    python3 tests/integration/test_hardening.py llm_connections
suite "walkthrough" python3 tests/integration/test_walkthrough.py
suite "report and live page (chromium)" python3 tests/integration/test_report.py

toml_suite=${TOML_TEST_DIR:-../shared/toml-test}
suite "toml-test" python3 tests/toml_suite.py "$toml_suite" bin/toml-decode
suite "toml-test (asan+ubsan)" python3 tests/toml_suite.py "$toml_suite" build/asan/bin/toml-decode

suite "fuzz (${FUZZ_TEST_SECONDS:-8} s per target)" tests/fuzz/run.sh "${FUZZ_TEST_SECONDS:-8}"

if command -v shellcheck >/dev/null; then
    if shellcheck scripts/*.sh dataset/fetch.sh tests/run-all.sh tests/fuzz/run.sh .ci/run; then
        passed=$((passed + 1))
        summary+=("shellcheck: 1 passed, 0 failed")
    else
        failed=$((failed + 1))
        summary+=("shellcheck: 0 passed, 1 failed")
    fi
fi

echo
for s in "${summary[@]}"; do echo "  $s"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
