#!/bin/sh
# check_portable.sh [BIN] - the default build runs on an x86-64 CPU without
# AVX2 and still picks AVX2 / AVX-512 where the CPU has them.
#
# Runs BIN (default bin/iotcnn) under QEMU's user-mode emulator as a
# Westmere (SSE4.2: no AVX, no AVX2, no FMA, no AVX-512) on a small
# generated MNIST-shaped data set:
#   - train 1 epoch and quantize: both finish (a stray AVX instruction in
#     libnn, augment, quantize or the runtime is a SIGILL here), and give
#     the native checkpoint and (quantizing that one) model byte for byte (scalar
#     bodies there, AVX2 or AVX-512 here: the same bits);
#   - the int8 model's evaluation there equals the native one, which runs
#     the best kernels of this CPU (the bodies are bit-identical);
#   - asking the emulated CPU for AVX2 kernels is refused with a message.
# OpenBLAS picks its own kernels from the CPU it sees; when OPENBLAS_CORETYPE
# forces a core the emulated CPU lacks, the training leg is skipped (and
# says so) rather than changing the variable.
# Exit status: 0 pass (or skip: no x86-64 host, no qemu-x86_64), 1 fail.
set -eu
BIN=${1:-bin/iotcnn}
CPU=Westmere
say() { printf 'check_portable: %s\n' "$*"; }
# On failure, the last command's output too.
fail() {
    say "FAIL: $*"
    [ -s "${tmp:-}/log" ] && sed 's/^/  | /' "$tmp/log"
    exit 1
}

[ "$(uname -m)" = x86_64 ] || { say "skip: not an x86-64 host"; exit 0; }
command -v qemu-x86_64 >/dev/null 2>&1 ||
    { say "skip: qemu-x86_64 missing (scripts/deps.sh installs qemu-user)"; exit 0; }
[ -x "$BIN" ] || fail "$BIN: not built (make)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
emu() { qemu-x86_64 -cpu "$CPU" "$@"; }

# IDX files (big-endian header, then bytes) from a fixed LCG: N images of
# 28x28 whose brightness depends on the label, so a net can learn a little.
idx() { # FILE_PREFIX N SEED
    LC_ALL=C awk -v n="$2" -v seed="$3" -v img="$1-images-idx3-ubyte" -v lab="$1-labels-idx1-ubyte" '
    function be32(f, v) { printf "%c%c%c%c", int(v / 16777216) % 256, int(v / 65536) % 256,
                                 int(v / 256) % 256, v % 256 > f }
    function rnd() { seed = (seed * 1103515245 + 12345) % 2147483648; return seed }
    BEGIN {
        be32(img, 2051); be32(img, n); be32(img, 28); be32(img, 28)
        be32(lab, 2049); be32(lab, n)
        for (i = 0; i < n; i++) {
            y = rnd() % 10; printf "%c", y > lab
            for (p = 0; p < 784; p++) {
                r = int(p / 28); c = p % 28
                on = (r >= 2 * y && r < 2 * y + 6 && c > 4 && c < 24)
                printf "%c", (on ? 200 : 0) + rnd() % 40 > img
            }
        }
    }'
}
mkdir -p "$tmp/mnist"
(cd "$tmp/mnist" && idx train 512 1 && idx t10k 128 2)
cat > "$tmp/cfg.json" <<EOF
{
  "data": {"dataset": "mnist", "dir": "$tmp/mnist", "validation": 0},
  "model": {"layers": [
    {"type": "conv2d", "filters": 8, "kernel": 3, "pad": 1},
    {"type": "batchnorm"}, {"type": "relu"},
    {"type": "maxpool", "size": 2},
    {"type": "conv2d", "filters": 8, "kernel": 3, "pad": 1}, {"type": "relu"},
    {"type": "maxpool", "size": 2},
    {"type": "flatten"}, {"type": "dense", "units": 10}]},
  "train": {"epochs": 1, "batch_size": 32, "seed": 1, "lr": 0.05},
  "augment": {"rotate": 10, "shear": 0.1, "zoom": 0.1}
}
EOF

# A native model to evaluate in both places (training natively is fast).
"$BIN" train -c "$tmp/cfg.json" -o "$tmp/native.ckpt" --threads 2 >"$tmp/log" 2>&1 ||
    fail "native training failed"
"$BIN" quantize -c "$tmp/cfg.json" -m "$tmp/native.ckpt" -o "$tmp/native.iotc" >"$tmp/log" 2>&1 ||
    fail "native quantize failed"
best=$("$BIN" eval -m "$tmp/native.iotc" -c "$tmp/cfg.json" --json 2>"$tmp/log" | tail -n 1)

case "${OPENBLAS_CORETYPE:-}" in
    ""|Nehalem|NEHALEM|Core2|CORE2|Prescott|PRESCOTT|Katmai|KATMAI)
        emu "$BIN" train -c "$tmp/cfg.json" -o "$tmp/emu.ckpt" --threads 2 >"$tmp/log" 2>&1 ||
            fail "training on an emulated $CPU (no AVX) failed"
        emu "$BIN" quantize -c "$tmp/cfg.json" -m "$tmp/native.ckpt" -o "$tmp/emu.iotc" >"$tmp/log" 2>&1 ||
            fail "quantize on an emulated $CPU failed"
        cmp -s "$tmp/native.ckpt" "$tmp/emu.ckpt" ||
            fail "the checkpoint trained on an emulated $CPU differs from the native one"
        cmp -s "$tmp/native.iotc" "$tmp/emu.iotc" ||
            fail "the model quantized on an emulated $CPU differs from the native one"
        say "train + quantize on an emulated $CPU: the native checkpoint and model, byte for byte" ;;
    *) say "skip the training leg: OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE forces OpenBLAS" \
           "kernels an emulated $CPU lacks" ;;
esac

# The native run used the best kernels here; the emulated one must fall back.
emu_out=$(emu "$BIN" eval -m "$tmp/native.iotc" -c "$tmp/cfg.json" --json 2>"$tmp/log" | tail -n 1) ||
    fail "int8 evaluation on an emulated $CPU failed"
# The figures (accuracy to confusion matrix), without engine and timings.
figures() { printf '%s\n' "$1" | sed 's/.*\("accuracy":.*\),"seconds".*/\1/'; }
engine() { printf '%s\n' "$1" | sed -n 's/.*"engine":"\([^"]*\)".*/\1/p'; }
[ "$(figures "$best")" = "$(figures "$emu_out")" ] ||
    fail "int8 evaluation differs: native $best, emulated $emu_out"
[ "$(engine "$emu_out")" = "int8 c" ] || fail "emulated $CPU ran '$(engine "$emu_out")'"
want="int8 c"
grep -qw avx2 /proc/cpuinfo && want="int8 avx2"
grep -qw avx512_vnni /proc/cpuinfo && grep -qw avx512bw /proc/cpuinfo &&
    grep -qw avx512vl /proc/cpuinfo && want="int8 avx512-vnni"
[ "$(engine "$best")" = "$want" ] || fail "this CPU ran '$(engine "$best")', expected '$want'"
if emu "$BIN" eval -m "$tmp/native.iotc" -c "$tmp/cfg.json" --isa avx2 >"$tmp/out" 2>&1; then
    fail "--isa avx2 was accepted on an emulated $CPU"
fi
grep -q avx2 "$tmp/out" || fail "--isa avx2 refused without naming it: $(cat "$tmp/out")"
say "int8 evaluation: emulated $CPU ('int8 c') equals this CPU ('$want'): $(figures "$emu_out" | cut -c1-40)"
say "pass"
