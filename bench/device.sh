#!/bin/sh
# bench/device.sh - `make bench-device`: the deployed models on the emulated
# Cortex-M boards, one table: accuracy, whether the device equals the host
# engine, instructions per inference, flash and RAM, each beside the
# TensorFlow Lite Micro + CMSIS-NN anchor of the MLPerf Tiny ResNet-8 task.
#
#   make bench-device [LIMIT=1000] [BOARDS="cortex-m4 ..."] [JOBS=2]
#                     [BENCH_DEVICE_MODELS="runs/r8.iotc runs/r8-open.iotc@72000 ..."]
#
# MODEL@BYTES exports MODEL with --arena-limit BYTES (the open-division
# model's faster kernels need about 72 KB of RAM).
# Each model runs through `make device-eval` (device/eval.sh: export, build
# the firmware, QEMU -icount, compare every image's logits with the host's),
# JOBS of them at a time (QEMU is single-threaded). Models are CIFAR-10
# .iotc files (the ResNet-8 recipes of docs/mlperf-tiny.md and the
# MobileNet-style configs/cifar10_mobilenet.json of docs/deploy.md); a
# missing one is reported, with where its commands are, and skipped. LIMIT=1000 matches
# the anchor's 88.0% (test images 0-999); LIMIT=10000 is the full test.
#
# The anchor is not measured in this run: it is the figure of issue 14,
# measured the same way (QEMU mps2-an386, -icount, instructions, the MLPerf
# Tiny reference int8 model). The ratios say how far from it each row is.
# Instructions are not cycles: QEMU is not cycle-accurate (docs/deploy.md).
# Exit status 1 when any run was not identical to the host or failed.
set -eu
. "$(dirname "$0")/../device/boards.sh" # runs from the repository's root
MODELS=${BENCH_DEVICE_MODELS:-runs/r8.iotc runs/r8-open.iotc@72000 runs/cifar10_mobilenet.iotc}
LIMIT=${LIMIT:-1000}
BOARDS=${BOARDS:-$DEVICE_BOARDS}
JOBS=${JOBS:-2}
TFLM_INSTR=29860000 TFLM_FLASH=188964 TFLM_RAM=56446 # arena 54,996 + ~1,450 stack

out=$BUILD/bench-device
rm -rf "$out"
mkdir -p "$out"
found=
for m in $MODELS; do
    if [ -f "${m%@*}" ]; then
        found="$found $m"
    else
        echo "bench-device: $m missing, skipped (make it with the commands of docs/mlperf-tiny.md or docs/deploy.md)"
    fi
done
[ -n "$found" ] || { echo "bench-device: no model to run"; exit 1; }

# One job per model and board; its JSON line (or its error) goes to a file.
for m in $found; do
    for t in $BOARDS; do
        echo "$m $t"
    done
done >"$out/jobs"
echo "bench-device: $(wc -l <"$out/jobs") runs of $LIMIT CIFAR-10 test images, $JOBS at a time"
export BUILD LIMIT out
xargs -P "$JOBS" -L 1 sh -c '
    tag=$(basename "$1" .iotc)-$2 m=${1%@*} a=
    [ "$m" = "$1" ] || a="--arena-limit ${1##*@}"
    if EXPORT_FLAGS="$a" device/eval.sh "$m" "$2" cifar10 "$LIMIT" >"$out/$tag.log" 2>&1; then :; fi
    tail -n 1 "$out/$tag.log" >"$out/$tag.json"
    echo "  done: $1 on $2"' sh <"$out/jobs"

# field NAME FILE: a number or boolean of a one-line JSON object
field() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" "$2"; }

status=0
printf '\n%-20s %-11s %6s %8s %9s %12s %7s %9s %7s %8s %7s\n' model board images accuracy identical \
    instr/inf "x TFLM" flash "x TFLM" RAM "x TFLM"
for m in $found; do
    for t in $BOARDS; do
        j=$out/$(basename "$m" .iotc)-$t.json
        ident=$(field identical "$j")
        if [ -z "$ident" ]; then
            printf '%-20s %-11s failed: see %s\n' "$(basename "$m")" "$t" "${j%.json}.log"
            status=1
            continue
        fi
        [ "$ident" = true ] || status=1
        awk -v m="$(basename "$m")" -v t="$t" -v n="$(field images "$j")" \
            -v acc="$(field accuracy "$j")" -v id="$ident" -v ins="$(field instructions_per_image "$j")" \
            -v fl="$(field flash_bytes "$j")" -v ram="$(field ram_bytes "$j")" \
            -v ti=$TFLM_INSTR -v tf=$TFLM_FLASH -v tr=$TFLM_RAM 'BEGIN {
            printf "%-20s %-11s %6d %7.2f%% %9s %12d %7.2f %9d %7.2f %8d %7.2f\n",
                m, t, n, 100 * acc, id, ins, ins / ti, fl, fl / tf, ram, ram / tr }'
    done
done
printf '%-20s %-11s %6d %7.2f%% %9s %12d %7s %9d %7s %8d %7s\n' "TFLM+CMSIS-NN *" cortex-m4 1000 88.0 - \
    $TFLM_INSTR 1.00 $TFLM_FLASH 1.00 $TFLM_RAM 1.00
echo
echo "* anchor of issue 14, not measured in this run: the MLPerf Tiny reference int8"
echo "  ResNet-8 (98,496-byte .tflite) on TFLite Micro + CMSIS-NN, QEMU mps2-an386 -icount,"
echo "  88.0% on CIFAR-10 test images 0-999; RAM = arena 54,996 + ~1.45 KB stack."
echo "Instructions are QEMU -icount counts, not cycles; flash = runtime code + model image;"
echo "RAM = arena + runtime static data + peak stack of one inference. Logs: $out/"
exit $status
