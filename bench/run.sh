#!/usr/bin/env bash
# bench/run.sh - `make bench`: iotcnn's training throughput against PyTorch
# and against the machine's sgemm peak, all measured in this one run.
#
# What is measured, in order (each part's own JSON line goes to a temporary
# file; the table and one final JSON line come from bench/compare.py):
#
#  1. sgemm peak ($BUILD/bench/sgemm_peak, bench/sgemm_peak.c): OpenBLAS
#     cblas_sgemm GFLOP/s with 1 and 2 threads on a 2048^3 product and on the
#     per-image GEMM shapes of the reference network (im2col forward, weight
#     and input gradients); best of 5 repetitions of >= 40 ms each,
#     CLOCK_MONOTONIC. "netmix" is the rate of all the network's per-image
#     GEMMs together: the ceiling for a trainer that runs each image's conv
#     as im2col + sgemm (batched or direct convolutions, as PyTorch's oneDNN
#     does, can go beyond it; the square peak bounds them all).
#  2. iotcnn: `bin/iotcnn train -c configs/mnist_ref.json --epochs 1
#     --limit $BENCH_LIMIT --threads $BENCH_THREADS --json -o TMP.ckpt` on
#     real MNIST (data/mnist; datasets/fetch.sh mnist is run if it is
#     missing). Its last stdout line is JSON with images_per_second
#     (training: forward + backward + update), seconds, test_accuracy and
#     peak_rss_bytes. When /usr/bin/time exists it also records the peak RSS
#     as a cross-check, and the process's CPU time over wall time.
#  3. PyTorch (bench/torch_ref.py under /usr/bin/python3, Debian's
#     python3-torch): the same network, normalization, init, optimizer and
#     batch, read from the same config (bench/refnet.py), with the
#     thread count set explicitly (PyTorch 1.13 would default to 1 thread on
#     a 2-CPU machine), $BENCH_TORCH_STEPS timed steps after 5 warm-up steps,
#     NCHW and channels_last each in its own process; the faster one counts.
#  4. The comparison (bench/compare.py): images/s of both, the ratio
#     iotcnn/PyTorch, GFLOP/s from the analytic FLOP count per training
#     image of the config's network (bench/refnet.py): conv and dense MACs
#     x2 forward, x2 weight grads, x2 input grads except for the first conv
#     = 6*sum(MACs) - 2*MACs(conv1) = 114.1 MFLOP for mnist_ref,
#     iotcnn's share of the 2-thread sgemm peak from step 1, peak RSS of both.
#
# The whole run takes about 1-2 minutes. The machine may be shared, and a
# 2-thread OpenMP trainer (PyTorch) whose threads must wait for CPU time
# slows down far more than the share it loses: the load average at the start
# and each trainer's CPU time / wall time are printed, and the summary warns
# when PyTorch had clearly fewer CPUs than threads. Rerun when it does.
#
# Environment (defaults in brackets):
#   BUILD [build]   where make put bench/sgemm_peak
#   BIN [bin]       where make put iotcnn (`make BIN=x bench` passes it on:
#                   make exports command-line variables to its recipes)
#   BENCH_THREADS [2]   threads for both trainers
#   BENCH_LIMIT [12800] training images for iotcnn (100 steps of 128)
#   BENCH_TORCH_STEPS [60]  timed PyTorch steps per memory format
#   MNIST_DIR [data/mnist]  MNIST for torch_ref.py (iotcnn reads the folder
#                   its config names, data/mnist by default)
#   TORCH_PYTHON [/usr/bin/python3]
#
# Exit status: 0 when all three parts produced numbers, 1 otherwise (the
# table and the JSON line are printed either way, with nulls and "errors").
set -u
cd "$(dirname "$0")/.." || exit 1

BUILD=${BUILD:-build}
BIN=${BIN:-bin}
THREADS=${BENCH_THREADS:-2}
LIMIT=${BENCH_LIMIT:-12800}
TORCH_STEPS=${BENCH_TORCH_STEPS:-60}
MNIST_DIR=${MNIST_DIR:-data/mnist}
PY=${TORCH_PYTHON:-/usr/bin/python3}
CONFIG=configs/mnist_ref.json

tmp=$(mktemp -d "${TMPDIR:-/tmp}/iotcnn-bench.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
failed=()   # "stage: why" for compare.py

say() { printf '%s\n' "$*"; }
fail() { failed+=("$1: $2"); say "bench: $1: $2" >&2; }

# compare.py needs only the standard library; Debian's python has it for sure
CMP_PY=$PY
[ -x "$CMP_PY" ] || CMP_PY=$(command -v python3) || { say "bench: no python3 found" >&2; exit 1; }

loadavg=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
say "== make bench: $(nproc) CPUs, load average $loadavg =="

have_mnist() {  # $1 = folder; plain or .gz IDX files
    local f
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
        [ -f "$1/$f" ] || [ -f "$1/$f.gz" ] || return 1
    done
}

if ! have_mnist data/mnist; then
    if [ -x datasets/fetch.sh ]; then
        say "-- data/mnist is missing: datasets/fetch.sh mnist"
        datasets/fetch.sh mnist || say "bench: datasets/fetch.sh mnist failed" >&2
    else
        say "bench: data/mnist is missing and datasets/fetch.sh does not exist (yet)" >&2
    fi
fi

# ---- 1. sgemm peak ---------------------------------------------------------
say "-- 1. OpenBLAS sgemm peak ($BUILD/bench/sgemm_peak)"
if [ -x "$BUILD/bench/sgemm_peak" ]; then
    if "$BUILD/bench/sgemm_peak" >"$tmp/sgemm.out"; then
        sed '$d' "$tmp/sgemm.out"   # the table; its JSON line goes to compare.py
    else
        fail sgemm_peak "exited with status $? (output above)"
    fi
else
    fail sgemm_peak "$BUILD/bench/sgemm_peak not built (make bench builds it; BUILD=$BUILD)"
fi

# ---- 2. iotcnn -------------------------------------------------------------
say "-- 2. iotcnn train: $LIMIT images, $THREADS threads"
iot_cmd=("$BIN/iotcnn" train -c "$CONFIG" --epochs 1 --limit "$LIMIT" --threads "$THREADS" --json
         -o "$tmp/iotcnn.ckpt")
time_cmd=()
# peak RSS (KiB), wall, user and system seconds of the whole iotcnn process
[ -x /usr/bin/time ] && time_cmd=(/usr/bin/time -f '%M %e %U %S' -o "$tmp/iotcnn.time")
if [ ! -x "$BIN/iotcnn" ]; then
    fail iotcnn "$BIN/iotcnn not found (make all builds it; set BIN when it lives elsewhere)"
elif [ ! -f "$CONFIG" ]; then
    fail iotcnn "$CONFIG not found: the reference configuration is needed"
elif ! have_mnist data/mnist; then
    fail iotcnn "no MNIST in data/mnist (run datasets/fetch.sh mnist)"
else
    say "   ${iot_cmd[*]}"
    timeout 150 "${time_cmd[@]}" "${iot_cmd[@]}" >"$tmp/iotcnn.out" 2>"$tmp/iotcnn.err"
    rc=$?
    if [ $rc -ne 0 ]; then
        [ $rc -eq 124 ] && why="timed out after 150 s" || why="exited with status $rc"
        tail -n 5 "$tmp/iotcnn.err" | sed 's/^/   | /' >&2
        fail iotcnn "$why (the end of its stderr is shown above)"
    elif ! grep -q '"images_per_second"' <(tail -n 1 "$tmp/iotcnn.out"); then
        fail iotcnn "its last stdout line has no \"images_per_second\" (is --json implemented?)"
        tail -n 3 "$tmp/iotcnn.out" | sed 's/^/   | /' >&2
    fi
fi

# ---- 3. PyTorch ------------------------------------------------------------
say "-- 3. PyTorch: $TORCH_STEPS steps per memory format, $THREADS threads"
if ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
    fail torch "$PY cannot import torch and numpy (apt-get install python3-torch python3-numpy)"
elif [ ! -f "$CONFIG" ]; then
    fail torch "$CONFIG not found: the reference configuration is needed"
elif ! have_mnist "$MNIST_DIR"; then
    fail torch "no MNIST in $MNIST_DIR (run datasets/fetch.sh mnist, or set MNIST_DIR)"
else
    timeout 150 "$PY" bench/torch_ref.py --config "$CONFIG" --data "$MNIST_DIR" \
        --threads "$THREADS" --steps "$TORCH_STEPS" >"$tmp/torch.out"
    rc=$?
    if [ $rc -ne 0 ]; then
        [ $rc -eq 124 ] && why="timed out after 150 s" || why="exited with status $rc"
        fail torch "bench/torch_ref.py $why"
    else
        sed '$d' "$tmp/torch.out" | sed 's/^/   /'
    fi
fi

# ---- 4. comparison ---------------------------------------------------------
args=(--sgemm "$tmp/sgemm.out" --iotcnn "$tmp/iotcnn.out" --torch "$tmp/torch.out"
      --time-rss "$tmp/iotcnn.time" --loadavg "$loadavg" --config "$CONFIG")
for f in "${failed[@]}"; do args+=(--failed "$f"); done
"$CMP_PY" bench/compare.py "${args[@]}"
