# boards.sh - sourced by the device scripts: board, memory map and compiler
# flags per target (device-notes: measured on QEMU 7.2).
#   BOARD   qemu -machine          DEF    board.h's macro
#   FO/FS   code memory origin/size, RO/RS data memory origin/size
#   TFLAGS  the target's compiler flags (same as iotcnn export's; the M55's
#           -mfloat-abi=softfp lets GCC offer arm_mve.h, the Helium bodies)
#   FB/RB/SB the default flash and RAM budgets and stack reserve (bytes;
#           empty: the board's memory, 4096), which FLASH_BUDGET, RAM_BUDGET
#           and STACK_BYTES override
# Sourcing it runs the script from the repository's root, with BUILD (the
# build folder) defaulting to build.
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}

board_for() {
    FB= RB= SB=
    case "$1" in
    # BBC micro:bit (nRF51, Cortex-M0: ARMv6-M like the M0+): 256 KB flash,
    # 16 KB RAM; the budgets are issue 19's 32 KB / 8 KB part, the rest of
    # the RAM is the harness's
    cortex-m0plus) BOARD=microbit DEF=BOARD_MICROBIT FO=0x00000000 FS=0x40000 RO=0x20000000 RS=0x4000
                FB=32768 RB=8192 SB=1024
                TFLAGS="-mcpu=cortex-m0plus -mthumb -mfloat-abi=soft" ;;
    cortex-m4)  BOARD=mps2-an386 DEF=BOARD_MPS2_AN386 FO=0x00000000 FS=0x400000 RO=0x20000000 RS=0x400000
                TFLAGS="-mcpu=cortex-m4 -mthumb -mfloat-abi=soft" ;;
    cortex-m7)  BOARD=mps2-an500 DEF=BOARD_MPS2_AN500 FO=0x00000000 FS=0x400000 RO=0x20000000 RS=0x400000
                TFLAGS="-mcpu=cortex-m7 -mthumb -mfloat-abi=soft" ;;
    cortex-m33) BOARD=mps2-an505 DEF=BOARD_MPS2_AN505 FO=0x10000000 FS=0x400000 RO=0x38000000 RS=0x200000
                TFLAGS="-mcpu=cortex-m33 -mthumb -mfloat-abi=soft" ;;
    cortex-m55) BOARD=mps3-an547 DEF=BOARD_MPS3_AN547 FO=0x00000000 FS=0x80000 RO=0x20000000 RS=0x80000
                TFLAGS="-mcpu=cortex-m55 -mthumb -mfloat-abi=softfp" ;;
    *) echo "unknown target '$1' (cortex-m0plus, cortex-m4, cortex-m7, cortex-m33, cortex-m55)" >&2; return 1 ;;
    esac
}
# each_board FUNC [TARGET...]: FUNC TARGET for each target (default: the
# four DSP boards) after board_for; the exit status is 1 when any FUNC
# failed, after all of them ran.
DEVICE_BOARDS="cortex-m4 cortex-m7 cortex-m33 cortex-m55"
each_board() {
    fn=$1 rc=0
    shift
    for t in ${*:-$DEVICE_BOARDS}; do
        board_for "$t" && "$fn" "$t" || rc=1
    done
    return $rc
}
ARM_PREFIX=${ARM_PREFIX:-arm-none-eabi-}
QEMU_ARM=${QEMU_ARM:-qemu-system-arm}
# The firmware's flags: -O2, freestanding, warnings as errors; DEVICE_CFLAGS
# adds to them (e.g. -DRT_NO_MVE: the M55 on the DSP bodies, to compare).
FW_CFLAGS="-O2 -g -ffreestanding -ffunction-sections -fdata-sections -Wall -Wextra -Werror ${DEVICE_CFLAGS:-}"

# build_fw OUT_DIR MAIN_C [MODEL_DIR]: compiles the harness (+ the exported
# model folder, or with MODEL_DIR "runtime" the whole runtime of runtime/)
# and links OUT_DIR/fw.elf within the budgets.
build_fw() {
    out=$1 main=$2 model=${3:-}
    mkdir -p "$out/obj"
    rm -f "$out"/obj/*.o
    inc="-Idevice"
    if [ "$model" = runtime ]; then
        inc="$inc -Iruntime"
        for s in runtime/rt_*.c; do
            ${ARM_PREFIX}gcc -std=c99 $TFLAGS $FW_CFLAGS -Iruntime -c "$s" \
                -o "$out/obj/$(basename "$s" .c).o"
        done
    elif [ -n "$model" ]; then
        inc="$inc -I$model"
        for s in "$model"/rt_*.c; do
            ${ARM_PREFIX}gcc -std=c99 $TFLAGS $FW_CFLAGS -I"$model" -c "$s" \
                -o "$out/obj/$(basename "$s" .c).o"
        done
        ${ARM_PREFIX}gcc -std=c99 $TFLAGS $FW_CFLAGS -c "$model/model.c" -o "$out/obj/model_image.o"
    fi
    for h in startup semihost timer "$main"; do
        ${ARM_PREFIX}gcc -std=c11 $TFLAGS $FW_CFLAGS -D$DEF $inc -c "device/$h.c" -o "$out/obj/$h.o"
    done
    ${ARM_PREFIX}cpp -P -undef -DFLASH_ORIGIN=$FO -DFLASH_SIZE=$FS -DRAM_ORIGIN=$RO -DRAM_SIZE=$RS \
        -DRT_FLASH_BUDGET=${FLASH_BUDGET:-${FB:-$FS}} -DRT_RAM_BUDGET=${RAM_BUDGET:-${RB:-$RS}} \
        -DSTACK_BYTES=${STACK_BYTES:-${SB:-4096}} device/link.ld.in > "$out/link.ld"
    ${ARM_PREFIX}gcc $TFLAGS -nostartfiles --specs=nano.specs -Wl,--gc-sections -T "$out/link.ld" \
        -Wl,-Map="$out/fw.map" -o "$out/fw.elf" "$out"/obj/*.o
}

# run_fw ELF DIR: runs the firmware in DIR (its host files), stdout = its output.
run_fw() {
    elf=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
    (cd "$2" && timeout "${QEMU_TIMEOUT:-1800}" $QEMU_ARM -machine $BOARD -nographic -monitor none \
        -serial none -semihosting -icount shift=3 -kernel "$elf" 2>&1)
}
