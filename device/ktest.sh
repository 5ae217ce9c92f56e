#!/bin/sh
# device/ktest.sh [TARGET...]: the runtime's kernels on the emulated cores
# against the host engine, on 48 random models (device/ktestgen.c), 3 inputs
# each: every byte must match.
set -eu
cd "$(dirname "$0")/.."
. device/boards.sh
BUILD=${BUILD:-build}
status=0
for t in ${*:-cortex-m4 cortex-m7 cortex-m33 cortex-m55}; do
    board_for "$t"
    out=$BUILD/device/ktest-$t
    build_fw "$out" ktest_main runtime
    "$BUILD/device/ktestgen" "$t" "$out/kt.bin" 7 > /dev/null
    res=$(run_fw "$out/fw.elf" "$out" | tail -n 1)
    echo "$t: $res"
    echo "$res" | grep -q '"identical":true' || status=1
done
exit $status
