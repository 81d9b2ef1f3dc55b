#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS each (default 20), two at a time,
# on a scratch copy of its seed corpus, after replaying its regression inputs
# (crash inputs found earlier). A crash is kept in build/fuzz/crashes/.
# Ends with "fuzz: N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
seconds=${1:-20}
targets=(rollout contract csv toml url reply json extract)
export B77_DATA_DIR="${B77_DATA_DIR:-dataset}"
mkdir -p build/fuzz/crashes
run_one() {
    local t=$1 work="build/fuzz/work-$1"
    rm -rf "$work" && mkdir -p "$work"
    cp tests/fuzz/corpus/"$t"/* "$work"/
    local regs=(tests/fuzz/regressions/"$t"/*)
    if compgen -G "tests/fuzz/regressions/$t/[!.]*" > /dev/null; then
        build/fuzz/fuzz_"$t" "${regs[@]}" > "build/fuzz/$t-regressions.log" 2>&1 || return 1
    fi
    build/fuzz/fuzz_"$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="build/fuzz/crashes/$t-" -print_final_stats=1 "$work" \
        > "build/fuzz/$t.log" 2>&1
}
passed=0
failed=0
for ((i = 0; i < ${#targets[@]}; i += 2)); do
    pids=()
    names=()
    for t in "${targets[@]:i:2}"; do
        run_one "$t" &
        pids+=($!)
        names+=("$t")
    done
    for k in "${!pids[@]}"; do
        t=${names[$k]}
        if wait "${pids[$k]}"; then
            execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "build/fuzz/$t.log" | grep -o '[0-9]*$')
            echo "ok   fuzz_$t (${seconds}s, ${execs:-?} inputs)"
            passed=$((passed + 1))
        else
            echo "FAIL fuzz_$t: see build/fuzz/$t.log; crash inputs in build/fuzz/crashes/"
            tail -n 30 "build/fuzz/$t.log" "build/fuzz/$t-regressions.log" 2> /dev/null
            failed=$((failed + 1))
        fi
    done
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
