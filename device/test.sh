#!/bin/sh
# device/test.sh - `make device-test` (called by .ci/run):
#   1. the runtime built for every target, freestanding, -Werror; nm -u and
#      size checks (device/check_runtime.sh)
#   2. the instruction counting calibrated on every board (device/calibrate.sh)
#   3. the DSP kernels against the host engine on 54 random models on every
#      board (device/ktest.sh)
#   4. the model CI trains and compresses (DEVICE_MODEL, default
#      runs/ci-mnist.iotc) on DEVICE_LIMIT (200) MNIST test images on M4, M7,
#      M33 and M55: fails unless every image's logits equal the host's
# Under 10 minutes on the 2-core dev machine.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
MODEL=${DEVICE_MODEL:-runs/ci-mnist.iotc}
LIMIT=${DEVICE_LIMIT:-200}
step() { printf '\n--- device-test: %s (%ds)\n' "$*" "$(( $(date +%s) - t0 ))"; }
t0=$(date +%s)
for tool in arm-none-eabi-gcc qemu-system-arm; do
    command -v $tool >/dev/null || { echo "device-test: $tool missing: scripts/deps.sh device"; exit 1; }
done
[ -f "$MODEL" ] || { echo "device-test: $MODEL missing (the CI model: see .ci/run; or set DEVICE_MODEL)"; exit 1; }

step "runtime: freestanding builds, nm -u, no static data"
device/check_runtime.sh
step "instruction counting: calibration loops"
device/calibrate.sh
step "kernels on the cores against the host engine"
device/ktest.sh
step "$MODEL on $LIMIT test images"
status=0
for t in cortex-m4 cortex-m7 cortex-m33 cortex-m55; do
    line=$(device/eval.sh "$MODEL" "$t" mnist "$LIMIT" | tail -n 1) || status=1
    echo "$line"
    echo "$line" | grep -q '"identical":true' || { echo "device-test: $t: FAIL"; status=1; }
done
step "done"
exit $status
