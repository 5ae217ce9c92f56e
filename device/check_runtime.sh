#!/bin/sh
# device/check_runtime.sh - the runtime (runtime/*.c) compiled for every
# target with -std=c99 -ffreestanding -Wall -Wextra -Werror (and -Wshadow
# -Wstrict-prototypes); `nm -u` over the whole runtime may list only
# memcpy, memset, memmove and the compiler's helpers (__aeabi_*, __gnu_*);
# `size` must show no .data and no .bss (no global mutable state).
set -eu
cd "$(dirname "$0")/.."
ARM_PREFIX=${ARM_PREFIX:-arm-none-eabi-}
BUILD=${BUILD:-build}
status=0
for t in cortex-m0plus cortex-m4 cortex-m7 cortex-m33 cortex-m55; do
    out=$BUILD/device/runtime-$t
    rm -rf "$out"; mkdir -p "$out"
    fa=soft
    [ $t = cortex-m55 ] && fa=softfp # arm_mve.h: the Helium bodies
    for s in runtime/*.c; do
        ${ARM_PREFIX}gcc -mcpu=$t -mthumb -mfloat-abi=$fa -std=c99 -O2 -ffreestanding \
            -ffunction-sections -fdata-sections -Wall -Wextra -Werror -Wshadow \
            -Wstrict-prototypes -c "$s" -o "$out/$(basename "$s" .c).o"
    done
    ${ARM_PREFIX}ar rcs "$out/librt.a" "$out"/*.o
    defined=$(${ARM_PREFIX}nm -g --defined-only "$out"/*.o | awk 'NF == 3 { print $3 }' | sort -u)
    undef=$(${ARM_PREFIX}nm -u "$out"/*.o | awk 'NF == 2 { print $2 }' | sort -u)
    extra=$(for u in $undef; do
                echo "$defined" | grep -qx "$u" && continue
                case $u in memcpy|memset|memmove|__aeabi_*|__gnu_*) ;; *) echo "$u" ;; esac
            done)
    need=$(for u in $undef; do echo "$defined" | grep -qx "$u" || echo "$u"; done | tr '\n' ' ')
    sizes=$(${ARM_PREFIX}size -t "$out"/*.o | tail -n 1)
    text=$(echo "$sizes" | awk '{ print $1 }') data=$(echo "$sizes" | awk '{ print $2 }')
    bss=$(echo "$sizes" | awk '{ print $3 }')
    if [ -n "$extra" ] || [ "$data" != 0 ] || [ "$bss" != 0 ]; then
        echo "$t: FAIL: undefined beyond the allowed: $extra; data $data, bss $bss"
        status=1
    else
        echo "$t: ok: text $text bytes (every kernel), data 0, bss 0; needs: $need"
    fi
done
# every kernel alone (and none): rt_config.h's switches leave no unused code
# or dangling reference behind (`iotcnn export` writes such configs)
ALL="CONV_S8 CONV_S4 CONV_SP4 CONV_SP8 DENSE_S8 DENSE_S4 DENSE_SP4 DENSE_SP8 MAXPOOL AVGPOOL GLOBAL_AVGPOOL ADD DEPTHWISE"
for t in cortex-m0plus cortex-m4 cortex-m55; do
    fa=
    [ $t = cortex-m55 ] && fa=-mfloat-abi=softfp
    for on in NONE $ALL; do
        defs=$(for k in $ALL; do [ "$k" = "$on" ] && echo "-DRT_WITH_$k=1" || echo "-DRT_WITH_$k=0"; done)
        for s in runtime/*.c; do
            ${ARM_PREFIX}gcc -mcpu=$t -mthumb $fa -std=c99 -O2 -ffreestanding -Wall -Wextra -Werror \
                $defs -c "$s" -o /dev/null || { echo "$t: FAIL with only $on"; status=1; }
        done
    done
done
[ $status = 0 ] && echo "configs: ok (each kernel alone, and none, on cortex-m0plus, cortex-m4 and cortex-m55)"
exit $status
