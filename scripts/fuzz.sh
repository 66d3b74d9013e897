#!/usr/bin/env bash
# Fuzzing rwkv-convert's readers with cargo-fuzz (libFuzzer). Needs a nightly toolchain and
# cargo-fuzz (`cargo install cargo-fuzz`).
#
#   scripts/fuzz.sh seed                     build the seed corpora in fuzz/corpus/TARGET/ (tiny
#                                            RWKV-4..7 files in every container, golden pieces,
#                                            fuzz/regressions/TARGET/*)
#   scripts/fuzz.sh build [TARGET]           build one or every target
#   scripts/fuzz.sh run TARGET SECONDS       fuzz one target; prints libFuzzer's final stats
#   scripts/fuzz.sh all SECONDS [T=SECONDS]… every target in turn (per-target overrides, e.g.
#                                            pickle=1200), summary table in fuzz/last-run.md;
#                                            FUZZ_TARGETS="gguf_reader tokenizer" narrows the list
#   scripts/fuzz.sh list                     the targets
#
# Everything runs under `nice -n 19` with one build job and one fuzzer process. A run that stops
# on a crash is restarted until its time is spent; each finding is kept in
# fuzz/artifacts/TARGET/ (crash-*, timeout-*, oom-*, leak-*) and counted in the summary.
# Environment: CARGO_TARGET_DIR (default /work/target-fuzz), FUZZ_SANITIZER (default address).
# LeakSanitizer is off (-detect_leaks=0, ASAN_OPTIONS=detect_leaks=0): its stop-the-world needs
# ptrace, which containers often forbid (the fuzzer then sits stopped forever at its leak check),
# and safe Rust does not leak through the readers. The fuzzer's stdin is /dev/null, so a session
# in the background cannot be stopped by terminal job control.
# -timeout is wall-clock time: on a loaded machine under nice 19, a "timeout" or "slow-unit"
# artifact may be starvation; replay it (`$CARGO_TARGET_DIR/<host>/release/TARGET FILE`) to tell.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FUZZ="$ROOT/fuzz"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target-fuzz}"
export CARGO_BUILD_JOBS=1
SANITIZER="${FUZZ_SANITIZER:-address}"
# LeakSanitizer off, also at exit (see above); keep whatever else the caller asked ASan for.
export ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
LOGS="$FUZZ/logs"
TARGETS=(pickle torch_zip torch_legacy safetensors_header gguf_reader tokenizer dequantize)
# `all` runs these (all of them unless FUZZ_TARGETS="a b ..." narrows the list).
read -r -a SELECTED <<<"${FUZZ_TARGETS:-${TARGETS[*]}}"

max_len() {
    case "$1" in
        pickle) echo 16384 ;;
        torch_zip | torch_legacy | gguf_reader) echo 65536 ;;
        safetensors_header) echo 32768 ;;
        tokenizer) echo 8192 ;;
        dequantize) echo 4096 ;;
        *) echo "unknown target $1" >&2; exit 2 ;;
    esac
}

is_target() {
    local t
    for t in "${TARGETS[@]}"; do [[ "$t" == "$1" ]] && return 0; done
    echo "unknown target '$1'; targets: ${TARGETS[*]}" >&2
    exit 2
}

build() {
    cd "$ROOT"
    local args=(build -a --sanitizer "$SANITIZER")
    [[ -n "${1:-}" ]] && args+=("$1")
    nice -n 19 cargo +nightly fuzz "${args[@]}"
}

seed() {
    cd "$FUZZ"
    nice -n 19 cargo build --release -j 1 -p rwkv-convert-fuzz-seedgen
    local seeds
    seeds="$(mktemp -d)"
    "$CARGO_TARGET_DIR/release/rwkv-convert-fuzz-seedgen" "$ROOT/golden" "$seeds"
    local t
    for t in "${TARGETS[@]}"; do
        mkdir -p "$FUZZ/corpus/$t"
        cp "$seeds/$t"/* "$FUZZ/corpus/$t/" 2>/dev/null || true
        if [[ -d "$FUZZ/regressions/$t" ]]; then
            cp "$FUZZ/regressions/$t"/* "$FUZZ/corpus/$t/" 2>/dev/null || true
        fi
    done
    rm -rf "$seeds"
    for t in "${TARGETS[@]}"; do
        printf '%-20s %5d inputs in fuzz/corpus/%s\n' "$t" "$(ls "$FUZZ/corpus/$t" | wc -l)" "$t"
    done
}

count_artifacts() {
    ls "$FUZZ/artifacts/$1" 2>/dev/null | grep -cE '^(crash|timeout|oom|leak|slow-unit)-' || true
}

# run TARGET SECONDS: fuzz until SECONDS have passed (restarting after a finding), print the
# totals and append a row to $LOGS/results.tsv.
run() {
    local target="$1" seconds="$2"
    is_target "$target"
    mkdir -p "$LOGS" "$FUZZ/corpus/$target" "$FUZZ/artifacts/$target"
    # Build once, then run the binary itself: no rebuild (of code someone may be editing) between
    # restarts. A failed build falls back to the last binary built, if there is one.
    local bin
    bin="$CARGO_TARGET_DIR/$(rustc +nightly -vV | sed -n 's/^host: //p')/release/$target"
    if ! build "$target" >"$LOGS/$target.build.log" 2>&1; then
        if [[ -x "$bin" ]]; then
            echo "== $target: build failed (see $LOGS/$target.build.log); fuzzing the last binary built" >&2
        else
            cat "$LOGS/$target.build.log"
            exit 1
        fi
    fi
    local dict=()
    [[ -f "$FUZZ/dict/$target.dict" ]] && dict=(-dict="$FUZZ/dict/$target.dict")
    local before start deadline now left log runs=0 execs=0 cov=0 ft=0 corp=0 rss=0
    before="$(count_artifacts "$target")"
    start="$(date +%s)"
    deadline=$((start + seconds))
    # Logs are per invocation ($$): several sessions may fuzz at once and share fuzz/logs.
    log="$LOGS/$target.$$.log"
    : >"$log"
    while :; do
        now="$(date +%s)"
        left=$((deadline - now))
        ((left > 0)) || break
        runs=$((runs + 1))
        local one="$LOGS/$target.$$.run$runs.log"
        cd "$ROOT"
        set +e
        nice -n 19 "$bin" "$FUZZ/corpus/$target" \
            -max_total_time="$left" -rss_limit_mb=2048 -max_len="$(max_len "$target")" -timeout=10 \
            -detect_leaks=0 -print_final_stats=1 -artifact_prefix="$FUZZ/artifacts/$target/" "${dict[@]}" \
            </dev/null >"$one" 2>&1
        local rc=$?
        set -e
        cat "$one" >>"$log"
        local n
        n="$(grep -E '^stat::number_of_executed_units:' "$one" | awk '{print $2}' | tail -1)"
        execs=$((execs + ${n:-0}))
        local last
        last="$(grep -E '^#[0-9]+' "$one" | grep -E 'cov: [0-9]+' | tail -1 || true)"
        if [[ -n "$last" ]]; then
            cov="$(sed -E 's/.*cov: ([0-9]+).*/\1/' <<<"$last")"
            ft="$(sed -E 's/.*ft: ([0-9]+).*/\1/' <<<"$last")"
            corp="$(sed -E 's/.*corp: ([0-9]+).*/\1/' <<<"$last")"
        fi
        local r
        r="$(grep -E '^stat::peak_rss_mb:' "$one" | awk '{print $2}' | tail -1)"
        ((${r:-0} > rss)) && rss="${r:-0}"
        if ((rc != 0)); then
            echo "== $target: run $runs ended with status $rc; finding:" >&2
            grep -E 'panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer|Test unit written to|SUMMARY' "$one" | head -8 >&2 || true
            # A finding in the corpus itself (before libFuzzer's INITED line) would repeat at
            # once: stop instead of spinning.
            if ! grep -q 'INITED' "$one"; then
                echo "== $target: an input of the corpus fails; not restarting" >&2
                break
            fi
            ((runs < 50)) || break
        else
            break
        fi
    done
    local elapsed found rate
    elapsed=$(($(date +%s) - start))
    found=$(($(count_artifacts "$target") - before))
    rate=$((elapsed > 0 ? execs / elapsed : 0))
    echo "== $target: ${elapsed}s, $execs execs ($rate/s), cov $cov, ft $ft, corpus $corp, peak rss ${rss} MB, $found new findings, $runs run(s)"
    echo "   final stats of the last run:"
    grep -E '^stat::' "$LOGS/$target.$$.run$runs.log" | sed 's/^/   /' || true
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$elapsed" "$execs" "$rate" "$cov" "$ft" "$corp" "$found" "$rss" \
        >>"${RESULTS:-$LOGS/results.tsv}"
    rm -f "$LOGS/$target.$$".run*.log
}

all() {
    local seconds="$1"
    shift
    declare -A override=()
    local kv
    for kv in "$@"; do
        is_target "${kv%%=*}"
        override["${kv%%=*}"]="${kv#*=}"
    done
    mkdir -p "$LOGS"
    RESULTS="$LOGS/results.$$.tsv"
    : >"$RESULTS"
    local started t
    started="$(date -u '+%Y-%m-%d %H:%M UTC')"
    for t in "${SELECTED[@]}"; do
        is_target "$t"
        run "$t" "${override[$t]:-$seconds}"
    done
    {
        echo "# Last fuzzing run"
        echo
        echo "Started $started, finished $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' + local changes');"
        echo "\`${FUZZ_TARGETS:+FUZZ_TARGETS=\"$FUZZ_TARGETS\" }scripts/fuzz.sh all $seconds${*:+ $*}\`, sanitizer $SANITIZER, one process, \`nice -n 19\`, -rss_limit_mb=2048 -timeout=10."
        echo "cov/ft: libFuzzer's edge coverage and features at the end of the last run; findings: new files in"
        echo "fuzz/artifacts/TARGET/ (crash, timeout, oom, leak) during this run."
        echo
        echo "| target | seconds | total execs | exec/s | cov | ft | corpus | findings | peak RSS MB |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        while IFS=$'\t' read -r t s e r c f corp found rss; do
            echo "| $t | $s | $e | $r | $c | $f | $corp | $found | $rss |"
        done <"$RESULTS"
    } >"$FUZZ/last-run.md"
    cat "$FUZZ/last-run.md"
}

case "${1:-}" in
    seed) seed ;;
    build) build "${2:-}" ;;
    run)
        [[ $# -eq 3 ]] || { echo "usage: $0 run TARGET SECONDS" >&2; exit 2; }
        run "$2" "$3"
        ;;
    all)
        [[ $# -ge 2 ]] || { echo "usage: $0 all SECONDS [TARGET=SECONDS ...]" >&2; exit 2; }
        shift
        all "$@"
        ;;
    list) printf '%s\n' "${TARGETS[@]}" ;;
    *)
        sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
