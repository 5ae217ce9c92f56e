#!/bin/sh
# device/ktest.sh [TARGET...]: the runtime's kernels on the emulated cores
# against the host engine, on 60 random models (device/ktestgen.c), 3 inputs
# each: every byte must match.
# cortex-m0plus: the microbit's 16 KB of RAM cannot hold the test's models,
# so its build (-mcpu=cortex-m0plus: ARMv6-M code) runs on mps2-an385, a
# Cortex-M3, which executes ARMv6-M code unchanged (though it does not trap
# unaligned accesses as a Cortex-M0 does: the model run on the microbit in
# device/test.sh covers that).
set -eu
. "$(dirname "$0")/boards.sh"

ktest() {
    t=$1 out=$BUILD/device/ktest-$1
    if [ "$t" = cortex-m0plus ]; then
        BOARD=mps2-an385 DEF=BOARD_MPS2_AN386 FO=0x00000000 FS=0x400000 RO=0x20000000 RS=0x400000
        FB= RB= SB=
    fi
    build_fw "$out" ktest_main runtime
    gen=$("$BUILD/device/ktestgen" "$t" "$out/kt.bin" 7)
    echo "$gen" | grep -q '"input_rules":[1-9]' || {
        echo "$t: no image with input rules among the cases: $gen" >&2
        return 1
    }
    case $t in # the DSP cores' Winograd and widened S4 convs are among them
    cortex-m4 | cortex-m7 | cortex-m33)
        echo "$gen" | grep -q '"winograd_convs":[1-9].*"winograd_s4_convs":[1-9].*"widened_convs":[1-9]' || {
            echo "$t: no Winograd or widened conv among the cases: $gen" >&2
            return 1
        } ;;
    esac
    res=$(run_fw "$out/fw.elf" "$out" | tail -n 1)
    echo "$t: $res"
    echo "$res" | grep -q '"identical":true'
    case $t in # a build without the clamped variants (rt_config.h, as the
    cortex-m4) # export writes for a model without such convs) on the same cases
        data=$out # (build_fw sets out)
        FW_CFLAGS="$FW_CFLAGS -DRT_WITH_CONV_LO=0" build_fw "$data-nolo" ktest_main runtime
        res=$(run_fw "$data-nolo/fw.elf" "$data" | tail -n 1)
        echo "$t, RT_WITH_CONV_LO 0: $res"
        echo "$res" | grep -q '"identical":true' ;;
    esac
}

each_board ktest "$@"
