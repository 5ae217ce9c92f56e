#!/bin/sh
# device/test.sh - `make device-test` (called by .ci/run):
#   1. the runtime built for every target, freestanding, -Werror; nm -u and
#      size checks (device/check_runtime.sh)
#   2. the instruction counting calibrated on every board, the microbit
#      (Cortex-M0) too (device/calibrate.sh)
#   3. the kernels against the host engine on 60 random models on every
#      board: the DSP bodies on M4, M7, M33, M55, the ARMv6-M build's C
#      bodies (device/ktest.sh)
#   4. the model CI trains and compresses (DEVICE_MODEL, default
#      runs/ci-mnist.iotc) on DEVICE_LIMIT (200) MNIST test images on M4, M7,
#      M33 and M55: fails unless every image's logits equal the host's
#   5. CI's mnist_tiny model (DEVICE_TINY_MODEL, default
#      runs/ci-mnist-tiny.iotc) on DEVICE_TINY_LIMIT (1000) images on the
#      microbit (cortex-m0plus) within its 32 KB flash / 8 KB RAM budgets:
#      identical or fail
# Under 10 minutes on the 2-core dev machine.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
MODEL=${DEVICE_MODEL:-runs/ci-mnist.iotc}
LIMIT=${DEVICE_LIMIT:-200}
TINY=${DEVICE_TINY_MODEL:-runs/ci-mnist-tiny.iotc}
TINY_LIMIT=${DEVICE_TINY_LIMIT:-1000}
step() { printf '\n--- device-test: %s (%ds)\n' "$*" "$(( $(date +%s) - t0 ))"; }
t0=$(date +%s)
for tool in arm-none-eabi-gcc qemu-system-arm; do
    command -v $tool >/dev/null || { echo "device-test: $tool missing: scripts/deps.sh device"; exit 1; }
done
[ -f "$MODEL" ] || { echo "device-test: $MODEL missing (the CI model: see .ci/run; or set DEVICE_MODEL)"; exit 1; }
[ -f "$TINY" ] || { echo "device-test: $TINY missing (CI's mnist_tiny: see .ci/run; or set DEVICE_TINY_MODEL)"; exit 1; }

step "runtime: freestanding builds, nm -u, no static data"
device/check_runtime.sh
step "instruction counting: calibration loops"
device/calibrate.sh cortex-m0plus cortex-m4 cortex-m7 cortex-m33 cortex-m55
step "kernels on the cores against the host engine"
device/ktest.sh cortex-m0plus cortex-m4 cortex-m7 cortex-m33 cortex-m55
step "$MODEL on $LIMIT test images"
status=0
for t in cortex-m4 cortex-m7 cortex-m33 cortex-m55; do
    line=$(device/eval.sh "$MODEL" "$t" mnist "$LIMIT" | tail -n 1) || status=1
    echo "$line"
    echo "$line" | grep -q '"identical":true' || { echo "device-test: $t: FAIL"; status=1; }
done
step "$TINY on $TINY_LIMIT test images on the microbit (cortex-m0plus, 32 KB / 8 KB)"
line=$(device/eval.sh "$TINY" cortex-m0plus mnist "$TINY_LIMIT" | tail -n 1) || status=1
echo "$line"
echo "$line" | grep -q '"identical":true' || { echo "device-test: cortex-m0plus: FAIL"; status=1; }
step "done"
exit $status
