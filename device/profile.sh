#!/bin/sh
# device/profile.sh MODEL.iotc TARGET: instructions per op (mean of the
# first 5 test images; needs a device-eval run's data folder or writes one).
set -eu
. "$(dirname "$0")/boards.sh" # from the repository's root
MODEL=$1 TARGET=$2 BUILD=${BUILD:-build}
board_for "$TARGET"
W=$BUILD/device/prof-$TARGET-$(basename "$MODEL" .iotc)
rm -rf "$W"; mkdir -p "$W/data"
bin/iotcnn export -m "$MODEL" -o "$W/model" --name model --target "$TARGET" --verify 0 ${EXPORT_FLAGS:-} > /dev/null
FW_CFLAGS="$FW_CFLAGS -DRT_OP_HOOK(i)=prof_hook(i) -Dprof_hook=prof_hook" 
# the hook's prototype for the runtime's translation unit
FW_CFLAGS="$FW_CFLAGS -include device/prof_hook.h"
build_fw "$W" prof_main "$W/model"
"$BUILD/device/devprep" "$MODEL" "${DATA:-mnist}" 5 "$W/data" "$TARGET" > /dev/null
run_fw "$W/fw.elf" "$W/data"
