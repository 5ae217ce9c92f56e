#!/bin/sh
# device/calibrate.sh [TARGET...]: proves the instruction counting. A loop of
# n iterations of subs + bne executes 2n instructions; the timer must say so
# on every board, to within one tick, for n from 1,000 to 50,000,000 (so
# across SysTick's 24-bit wraps too).
set -eu
. "$(dirname "$0")/boards.sh"

calibrate() {
    t=$1 out=$BUILD/device/calib-$1
    build_fw "$out" calib_main
    run_fw "$out/fw.elf" "$out" > "$out/calib.jsonl"
    # per line: ticks x num / den vs 2n; allowed error: the call and return of
    # spin (a few instructions) plus one tick
    res=$(awk -v t="$t" '
        /"n":/ {
            match($0, /"n":[0-9]+/); n = substr($0, RSTART + 4, RLENGTH - 4)
            match($0, /"measured_instructions":[0-9]+/); m = substr($0, RSTART + 24, RLENGTH - 24)
            d = m - 2 * n; if (d < 0) d = -d
            ok = d <= 16
            printf "%s n=%d loop=%d measured=%d diff=%d %s\n", t, n, 2 * n, m, m - 2 * n, ok ? "ok" : "FAIL"
            if (!ok) bad = 1
            lines++
        }
        END { if (lines != 5) { print t " missing output"; bad = 1 } exit bad }' "$out/calib.jsonl") ||
        { echo "$res"; return 1; }
    echo "$res"
}

each_board calibrate "$@"
