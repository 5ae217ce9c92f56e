#!/bin/sh
# fuzz/smoke.sh - `make fuzz-smoke`: every fuzz target for FUZZ_SMOKE_SECONDS
# (default 18) on its seed corpus (fuzz/corpus/TARGET, which holds the
# regression inputs too: libFuzzer runs every one of them first), one target
# at a time. New inputs go to a temporary folder; the repository is not
# touched. Fails on the first crash, leak, timeout, out-of-memory or
# sanitizer report, printing the log and how to reproduce it. Needs the
# targets built (`make fuzz`).
set -eu
cd "$(dirname "$0")/.."
. fuzz/common.sh
secs=${FUZZ_SMOKE_SECONDS:-18}
work=$(mktemp -d "${TMPDIR:-/tmp}/iotcnn-fuzz-smoke.XXXXXX")
keep=$FUZZ_BUILD/fuzz-smoke-failures
trap 'rm -rf "$work"' EXIT

printf '%-9s %10s %8s %8s %8s  %s\n' target runs seconds exec/s new result
start=$(date +%s)
for t in $FUZZ_TARGETS; do
    bin=$FUZZ_BUILD/fuzz/$t
    [ -x "$bin" ] || { echo "fuzz-smoke: $bin is missing: run make fuzz" >&2; exit 1; }
    mkdir -p "$work/$t"
    t0=$(date +%s)
    # shellcheck disable=SC2046
    if "$bin" $(fuzz_flags "$t" "$work/$t-") -max_total_time="$secs" -print_final_stats=1 \
        "$work/$t" "fuzz/corpus/$t" >"$work/$t.log" 2>&1; then
        result=ok
    else
        result=FAILED
    fi
    t1=$(date +%s)
    runs=$(fuzz_stat number_of_executed_units "$work/$t.log")
    rate=$(fuzz_stat average_exec_per_sec "$work/$t.log")
    new=$(fuzz_stat new_units_added "$work/$t.log")
    printf '%-9s %10s %8s %8s %8s  %s\n' "$t" "${runs:-?}" $((t1 - t0)) "${rate:-?}" \
        "${new:-?}" "$result"
    if [ "$result" != ok ]; then
        mkdir -p "$keep"
        cp "$work/$t.log" "$keep/" 2>/dev/null || true
        for a in "$work/$t"-*; do [ -e "$a" ] && cp "$a" "$keep/"; done
        echo
        tail -n 60 "$work/$t.log"
        echo
        echo "fuzz-smoke: target $t FAILED; the log and the input are in $keep/"
        for a in "$keep/$t"-*; do
            [ -e "$a" ] || continue
            echo "reproduce: $bin $a"
            echo "  (IOTCNN_FUZZ_DUMP=DIR $bin $a writes the files it hands the library to DIR)"
        done
        exit 1
    fi
done
echo "fuzz-smoke: all targets passed in $(( $(date +%s) - start )) s"
