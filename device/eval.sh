#!/bin/sh
# device/eval.sh MODEL.iotc TARGET [DATA] [LIMIT] - `make device-eval`:
# exports the model for TARGET, builds the harness firmware around it
# (arm-none-eabi-gcc -O2, device/boards.sh has the flags), writes the first
# LIMIT test images of DATA with the host int8 engine's logits, runs the
# firmware on the emulated board (qemu -icount shift=3) and prints its JSON
# line: target, model, images, accuracy, host_accuracy, identical,
# mismatches, instructions_per_image (median), instructions_max,
# flash_bytes (runtime code + model image), ram_bytes (arena + runtime
# static data + peak stack of one inference), arena_bytes, stack_bytes,
# model_image_bytes, and more. Exit status 0 only when identical.
# Budgets: FLASH_BUDGET, RAM_BUDGET (bytes; default: the board's memory)
# make the link fail when exceeded; STACK_BYTES (default 4096) is the stack
# reserve inside the RAM budget. EXPORT_FLAGS go to iotcnn export (e.g.
# "--sparse never" to compare the dense kernels).
set -eu
. "$(dirname "$0")/boards.sh" # from the repository's root
MODEL=${1:?usage: device/eval.sh MODEL.iotc TARGET [DATA] [LIMIT]}
TARGET=${2:?target}
DATA=${3:-mnist}
LIMIT=${4:-200}
BUILD=${BUILD:-build}
board_for "$TARGET"
W=$BUILD/device/eval-$TARGET-$(basename "$MODEL" .iotc)
rm -rf "$W"
mkdir -p "$W/data"
bin/iotcnn export -m "$MODEL" -o "$W/model" --name model --target "$TARGET" --verify 4 \
    ${EXPORT_FLAGS:-} --json > "$W/export.txt"
build_fw "$W" eval_main "$W/model"
"$BUILD/device/devprep" "$MODEL" "$DATA" "$LIMIT" "$W/data" "$TARGET" > "$W/host.json"
run_fw "$W/fw.elf" "$W/data" | tee "$W/device.txt" | tail -n 1
grep -q '"identical":true' "$W/device.txt"
