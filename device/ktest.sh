#!/bin/sh
# device/ktest.sh [TARGET...]: the runtime's kernels on the emulated cores
# against the host engine, on 54 random models (device/ktestgen.c), 3 inputs
# each: every byte must match.
set -eu
. "$(dirname "$0")/boards.sh"

ktest() {
    t=$1 out=$BUILD/device/ktest-$1
    build_fw "$out" ktest_main runtime
    "$BUILD/device/ktestgen" "$t" "$out/kt.bin" 7 > /dev/null
    res=$(run_fw "$out/fw.elf" "$out" | tail -n 1)
    echo "$t: $res"
    echo "$res" | grep -q '"identical":true'
}

each_board ktest "$@"
