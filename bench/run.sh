#!/usr/bin/env bash
# bench/run.sh - `make bench`: iotcnn's training throughput against PyTorch
# and against the machine's sgemm peak, and its deployment (inference) speed:
# int8 engine against float engine, structurally pruned against unpruned,
# iotcnn int8 against PyTorch's quantized CPU inference. All measured in
# this one run.
#
# What is measured, in order (each part's own JSON line goes to a temporary
# file; the table and one final JSON line come from bench/compare.py):
#
# Training (BENCH_PARTS contains "train"), both sides on the same network,
# batch, optimizer and thread count, warm-up excluded, $BENCH_REPS timed
# repetitions each, median and spread:
#  1. The machine's peaks: its FMA peak ($BUILD/bench/fma_peak,
#     bench/fma_peak.c: register-only FMA chains, AVX-512 and AVX2, 1 and
#     $BENCH_THREADS threads; the best is "the peak") and OpenBLAS sgemm
#     ($BUILD/bench/sgemm_peak, bench/sgemm_peak.c): GFLOP/s with 1 and 2
#     threads on a 2048^3 product and on the per-image GEMM shapes of the
#     reference network (im2col forward, weight and input gradients); best
#     of 5 repetitions of >= 40 ms each, CLOCK_MONOTONIC. "netmix" is the
#     rate of all the network's per-image GEMMs together: the ceiling for a
#     trainer that runs each image's conv as im2col + sgemm.
#  2. iotcnn: `bin/iotcnn train -c configs/mnist_ref.json --epochs 1+R
#     --limit $BENCH_LIMIT --threads $BENCH_THREADS --json -o TMP.ckpt` on
#     real MNIST (data/mnist; datasets/fetch.sh mnist is run if it is
#     missing). Epoch 1 is the warm-up; epochs 2..1+R are the R
#     repetitions, each timed by the trainer itself (its metrics log:
#     forward + backward + update of every batch, the batches' loading
#     included, the end-of-epoch checkpoint and test excluded). When
#     /usr/bin/time exists it also records the peak RSS as a cross-check,
#     and the process's CPU time over wall time.
#  3. PyTorch (bench/torch_ref.py under /usr/bin/python3, Debian's
#     python3-torch) at its best: the same network, normalization, init,
#     optimizer and batch, read from the same config (bench/refnet.py);
#     torch.set_num_threads($BENCH_THREADS) with OPENBLAS_NUM_THREADS=1 (its
#     OpenMP pool and OpenBLAS's would otherwise fight for the cores);
#     5 warm-up steps, then R repetitions of $BENCH_TORCH_STEPS steps; NCHW
#     and channels_last each in its own process, the faster median counts.
#     It reports the ISA oneDNN ran (its verbose mode), ATen's and OpenBLAS's.
#
# Deployment (BENCH_PARTS contains "deploy"), one thread, batch 1 and
# $BENCH_DEPLOY_BATCH, on real model files that the project's own pipeline
# writes here (a few seconds each; speed does not depend on how well the
# model is trained):
#  4. The models: `iotcnn train -c configs/mnist.json --epochs 1 --limit
#     $BENCH_DEPLOY_LIMIT --threads 2` (the MNIST recipe: batch norm after
#     every conv), `iotcnn prune -c configs/mnist_structured.json --epochs 0`
#     (structured: half the channels of every conv but the first and half of
#     the hidden units removed, no fine-tuning), and `iotcnn quantize -c
#     configs/mnist.json` of both (batch norm folded; both with that
#     config's quantize block, so their weight bits are the same; the
#     table's "wts" column shows them).
#  5. $BUILD/bench/deploy_bench (bench/deploy_bench.c) on the two
#     checkpoints (float engine: nn_exec, im2col + OpenBLAS sgemm, 1 thread,
#     batch norm as its own layer) and the two .iotc files (int8: the
#     runtime on the host's image, one rt_run per image, the best ISA and,
#     for information, every other ISA the CPU has), on the first test
#     images, raw uint8 pixels in; every case once
#     as warm-up, then $BENCH_DEPLOY_REPS rounds of one repetition (>=
#     $BENCH_DEPLOY_MIN_MS ms) per case in turn; the best counts.
#  6. PyTorch int8 (bench/torch_quant.py under /usr/bin/python3): the same
#     network from the same config, PyTorch's own (untrained) weights,
#     eager-mode static quantization (conv+bn+relu fused, the backend's
#     default qconfig, calibrated on 512 MNIST training images), backend x86
#     or fbgemm when the build has one, else onednn (Debian's 1.13 has only
#     onednn and qnnpack), torch.set_num_threads(1); the faster of eager and
#     TorchScript (trace + freeze) counts. Also PyTorch float, for context.
#     On a CPU with AMX, oneDNN runs int8 convs on AMX tiles, which iotcnn's
#     engine does not use: the int8 part is then repeated with
#     ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI, the ISA iotcnn uses.
#
#  7. The comparison (bench/compare.py, deployment part bench/deploy_compare.py):
#     training: median images/s of both with min-max, the ratio
#     iotcnn/PyTorch of the medians, GFLOP/s from the analytic FLOP count
#     per training image of the config's network (bench/refnet.py): conv
#     and dense MACs x2 forward, x2 weight grads, x2 input grads except for
#     the first conv = 6*sum(MACs) - 2*MACs(conv1) = 114.1 MFLOP for
#     mnist_ref; each side's share of the FMA peak and of the sgemm peak,
#     the ISA each side used, peak RSS of both. Deployment: images/s of
#     every engine, and the ratios int8 / float (target >= 3x), pruned /
#     unpruned, float and int8 (target >= 1.3x), each at batch 1 and batch
#     N with PASS or BELOW TARGET, and iotcnn int8 / PyTorch int8 (no
#     target).
#
# The whole run takes about 2-3 minutes. The machine may be shared, and a
# 2-thread OpenMP trainer (PyTorch) whose threads must wait for CPU time
# slows down far more than the share it loses: the load average at the start
# and each trainer's CPU time / wall time are printed, and the summary warns
# when PyTorch had clearly fewer CPUs than threads. Rerun when it does. The
# one-thread deployment timings are printed with their median next to the
# best and with the process's CPU time over the wall time (about 1 when the
# benchmark had a CPU to itself); the summary warns when either says that
# the machine was busy (the ratios, measured within one run, are steadier
# than the images/s).
# bench/int8_bench.c (random-weight MNIST and CIFAR-shaped models, sparse
# dense layers, 4-bit weights) is built too but not run here; see
# docs/int8.md.
#
# Environment (defaults in brackets):
#   BUILD [build]   where make put bench/sgemm_peak and bench/deploy_bench
#   BIN [bin]       where make put iotcnn (`make BIN=x bench` passes it on:
#                   make exports command-line variables to its recipes)
#   BENCH_PARTS [train,deploy]  which parts to run
#   BENCH_THREADS [2]   threads for both trainers
#   BENCH_REPS [5]      timed repetitions of both trainers
#   BENCH_LIMIT [6400]  training images per iotcnn repetition (50 steps of 128)
#   BENCH_TORCH_STEPS [50]  PyTorch steps per repetition and memory format
#   BENCH_DEPLOY_CONFIG [configs/mnist.json]  the deployment network
#   BENCH_DEPLOY_PRUNE_CONFIG [configs/mnist_structured.json]  its pruning
#   BENCH_DEPLOY_LIMIT [2000]  training images for the deployment model
#   BENCH_DEPLOY_BATCH [128]   the large batch (the small one is 1)
#   BENCH_DEPLOY_REPS [5], BENCH_DEPLOY_MIN_MS [100]  timing rounds, ms each
#   MNIST_DIR [data/mnist]  MNIST for the Python scripts and deploy_bench
#                   (iotcnn reads the folder its config names, data/mnist by
#                   default)
#   TORCH_PYTHON [/usr/bin/python3]
#   BENCH_MAX_ISA []  avx2: hold the training part to AVX2 on both sides, to
#                   measure on an AVX-512 CPU what an AVX2-only one would run:
#                   IOTCNN_MAX_ISA=avx2 for iotcnn (libnn/nn_isa.h),
#                   ONEDNN_MAX_CPU_ISA=AVX2 and ATEN_CPU_CAPABILITY=avx2 for
#                   PyTorch (OpenBLAS is on its Haswell kernels already), and
#                   the AVX2 FMA peak as the peak. Not the same as a CPU
#                   without AVX-512 (its clock, caches and ports differ).
#
# Exit status: 0 when every part that ran produced numbers, 1 otherwise
# (the table and the JSON line are printed either way, with nulls and
# "errors"). A ratio below its target is marked, not an error.
set -u
cd "$(dirname "$0")/.." || exit 1

BUILD=${BUILD:-build}
BIN=${BIN:-bin}
THREADS=${BENCH_THREADS:-2}
REPS=${BENCH_REPS:-5}
LIMIT=${BENCH_LIMIT:-6400}
TORCH_STEPS=${BENCH_TORCH_STEPS:-50}
MNIST_DIR=${MNIST_DIR:-data/mnist}
PY=${TORCH_PYTHON:-/usr/bin/python3}
CONFIG=configs/mnist_ref.json
PARTS=${BENCH_PARTS:-train,deploy}
DEP_CONFIG=${BENCH_DEPLOY_CONFIG:-configs/mnist.json}
DEP_PRUNE_CONFIG=${BENCH_DEPLOY_PRUNE_CONFIG:-configs/mnist_structured.json}
DEP_LIMIT=${BENCH_DEPLOY_LIMIT:-2000}
DEP_BATCH=${BENCH_DEPLOY_BATCH:-128}
DEP_REPS=${BENCH_DEPLOY_REPS:-5}
DEP_MIN_MS=${BENCH_DEPLOY_MIN_MS:-100}
MAX_ISA=${BENCH_MAX_ISA:-}
case "$MAX_ISA" in
    "") fma_cap=() ;;
    avx2)
        fma_cap=(--max-isa avx2)
        export IOTCNN_MAX_ISA=avx2 ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 ;;
    *) printf 'bench: BENCH_MAX_ISA is avx2 or empty, not %s\n' "$MAX_ISA" >&2; exit 2 ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/iotcnn-bench.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
failed=()   # "stage: why" for compare.py

say() { printf '%s\n' "$*"; }
fail() { failed+=("$1: $2"); say "bench: $1: $2" >&2; }
part() { case ",$PARTS," in *,"$1",*) return 0 ;; esac; return 1; }

# run_step STAGE SECONDS OUT -- COMMAND...: runs COMMAND (stdout to OUT,
# stderr to OUT.err) with a time limit; on failure records STAGE as failed
# with the end of its stderr, and returns 1.
run_step() {
    local stage=$1 limit=$2 out=$3 rc why
    shift 4
    say "   $*"
    timeout "$limit" "$@" >"$out" 2>"$out.err"
    rc=$?
    [ $rc -eq 0 ] && return 0
    [ $rc -eq 124 ] && why="timed out after $limit s" || why="exited with status $rc"
    tail -n 5 "$out.err" | sed 's/^/   | /' >&2
    fail "$stage" "$why (the end of its stderr is shown above)"
    return 1
}

# compare.py needs only the standard library; Debian's python has it for sure
CMP_PY=$PY
[ -x "$CMP_PY" ] || CMP_PY=$(command -v python3) || { say "bench: no python3 found" >&2; exit 1; }

loadavg=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
say "== make bench: $(nproc) CPUs, load average $loadavg =="
[ -n "$MAX_ISA" ] && say "== both sides held to $MAX_ISA: IOTCNN_MAX_ISA=$IOTCNN_MAX_ISA ONEDNN_MAX_CPU_ISA=$ONEDNN_MAX_CPU_ISA ATEN_CPU_CAPABILITY=$ATEN_CPU_CAPABILITY =="

have_mnist() {  # $1 = folder; plain or .gz IDX files
    local f
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
        [ -f "$1/$f" ] || [ -f "$1/$f.gz" ] || return 1
    done
}

# iotcnn_ready STAGE CONFIG MISSING: 0 when bin/iotcnn, CONFIG and the MNIST
# files in data/mnist are all there; else records STAGE as failed (MISSING
# is the message for an absent CONFIG) and returns 1.
iotcnn_ready() {
    if [ ! -x "$BIN/iotcnn" ]; then
        fail "$1" "$BIN/iotcnn not found (make all builds it; set BIN when it lives elsewhere)"
    elif [ ! -f "$2" ]; then
        fail "$1" "$3"
    elif ! have_mnist data/mnist; then
        fail "$1" "no MNIST in data/mnist (run datasets/fetch.sh mnist)"
    else
        return 0
    fi
    return 1
}

if ! have_mnist data/mnist; then
    if [ -x datasets/fetch.sh ]; then
        say "-- data/mnist is missing: datasets/fetch.sh mnist"
        datasets/fetch.sh mnist || say "bench: datasets/fetch.sh mnist failed" >&2
    else
        say "bench: data/mnist is missing and datasets/fetch.sh does not exist (yet)" >&2
    fi
fi

if part train; then
    # ---- 1. FMA and sgemm peaks ------------------------------------------
    say "-- 1. FMA peak ($BUILD/bench/fma_peak --threads $THREADS ${fma_cap[*]})"
    if [ -x "$BUILD/bench/fma_peak" ]; then
        if "$BUILD/bench/fma_peak" --threads "$THREADS" "${fma_cap[@]}" >"$tmp/fma.out"; then
            sed '$d' "$tmp/fma.out" | sed 's/^/   /'
        else
            fail fma_peak "exited with status $? (output above)"
        fi
    else
        fail fma_peak "$BUILD/bench/fma_peak not built (make bench builds it; BUILD=$BUILD)"
    fi
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

    # ---- 2. iotcnn ---------------------------------------------------------
    say "-- 2. iotcnn train: 1 warm-up and $REPS timed epochs of $LIMIT images, $THREADS threads"
    iot_cmd=("$BIN/iotcnn" train -c "$CONFIG" --epochs $((1 + REPS)) --limit "$LIMIT" --threads "$THREADS" --json
             -o "$tmp/iotcnn.ckpt")
    time_cmd=()
    # peak RSS (KiB), wall, user and system seconds of the whole iotcnn process
    [ -x /usr/bin/time ] && time_cmd=(/usr/bin/time -f '%M %e %U %S' -o "$tmp/iotcnn.time")
    if iotcnn_ready iotcnn "$CONFIG" \
            "$CONFIG not found: the reference configuration is needed"; then
        say "   ${iot_cmd[*]}"
        timeout 300 "${time_cmd[@]}" "${iot_cmd[@]}" >"$tmp/iotcnn.out" 2>"$tmp/iotcnn.err"
        rc=$?
        if [ $rc -ne 0 ]; then
            [ $rc -eq 124 ] && why="timed out after 300 s" || why="exited with status $rc"
            tail -n 5 "$tmp/iotcnn.err" | sed 's/^/   | /' >&2
            fail iotcnn "$why (the end of its stderr is shown above)"
        elif ! grep -q '"images_per_second"' <(tail -n 1 "$tmp/iotcnn.out"); then
            fail iotcnn "its last stdout line has no \"images_per_second\" (is --json implemented?)"
            tail -n 3 "$tmp/iotcnn.out" | sed 's/^/   | /' >&2
        fi
    fi

    # ---- 3. PyTorch --------------------------------------------------------
    say "-- 3. PyTorch: $REPS x $TORCH_STEPS steps per memory format, $THREADS threads, OPENBLAS_NUM_THREADS=1"
    if ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
        fail torch "$PY cannot import torch and numpy (apt-get install python3-torch python3-numpy)"
    elif [ ! -f "$CONFIG" ]; then
        fail torch "$CONFIG not found: the reference configuration is needed"
    elif ! have_mnist "$MNIST_DIR"; then
        fail torch "no MNIST in $MNIST_DIR (run datasets/fetch.sh mnist, or set MNIST_DIR)"
    else
        timeout 300 "$PY" bench/torch_ref.py --config "$CONFIG" --data "$MNIST_DIR" \
            --threads "$THREADS" --steps "$TORCH_STEPS" --reps "$REPS" >"$tmp/torch.out"
        rc=$?
        if [ $rc -ne 0 ]; then
            [ $rc -eq 124 ] && why="timed out after 300 s" || why="exited with status $rc"
            fail torch "bench/torch_ref.py $why"
        else
            sed '$d' "$tmp/torch.out" | sed 's/^/   /'
        fi
    fi
fi  # train

# ---- 4. deployment models ------------------------------------------------
models=()   # LABEL=FILE for deploy_bench
dep_loadavg=
if part deploy; then
    say "-- 4. deployment models: $DEP_CONFIG, 1 epoch on $DEP_LIMIT images; pruned with $DEP_PRUNE_CONFIG; quantized"
    if ! iotcnn_ready deploy_models "$DEP_CONFIG" "$DEP_CONFIG not found"; then
        :   # recorded
    elif run_step deploy_train 150 "$tmp/dep_train.out" -- "$BIN/iotcnn" train -c "$DEP_CONFIG" \
            --epochs 1 --limit "$DEP_LIMIT" --threads 2 --json -o "$tmp/mnist.ckpt"; then
        models+=("full=$tmp/mnist.ckpt")
        if run_step deploy_quantize 120 "$tmp/dep_quant.out" -- "$BIN/iotcnn" quantize \
                -c "$DEP_CONFIG" -m "$tmp/mnist.ckpt" -o "$tmp/mnist.iotc" --json; then
            models+=("full=$tmp/mnist.iotc")
        fi
        if [ ! -f "$DEP_PRUNE_CONFIG" ]; then
            fail deploy_prune "$DEP_PRUNE_CONFIG not found: the pruned model is skipped"
        elif run_step deploy_prune 150 "$tmp/dep_prune.out" -- "$BIN/iotcnn" prune \
                -c "$DEP_PRUNE_CONFIG" -m "$tmp/mnist.ckpt" -o "$tmp/pruned.ckpt" --epochs 0 --json; then
            models+=("pruned=$tmp/pruned.ckpt")
            # the unpruned model's quantize block, so both have the same weight bits
            if run_step deploy_quantize_pruned 120 "$tmp/dep_pquant.out" -- "$BIN/iotcnn" quantize \
                    -c "$DEP_CONFIG" -m "$tmp/pruned.ckpt" -o "$tmp/pruned.iotc" --json; then
                models+=("pruned=$tmp/pruned.iotc")
            fi
        fi
    fi

    # ---- 5. iotcnn deployment speed --------------------------------------
    dep_loadavg=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
    say "-- 5. iotcnn inference, 1 thread, batch 1 and $DEP_BATCH ($BUILD/bench/deploy_bench; load average $dep_loadavg)"
    if [ ${#models[@]} -eq 0 ]; then
        fail deploy_bench "no model files (step 4 failed)"
    elif [ ! -x "$BUILD/bench/deploy_bench" ]; then
        fail deploy_bench "$BUILD/bench/deploy_bench not built (make bench builds it; BUILD=$BUILD)"
    elif run_step deploy_bench 300 "$tmp/deploy.out" -- "$BUILD/bench/deploy_bench" --isa all \
            --batch "$DEP_BATCH" --reps "$DEP_REPS" --min-ms "$DEP_MIN_MS" --data "$MNIST_DIR" \
            "${models[@]}"; then
        sed '$d' "$tmp/deploy.out" | sed 's/^/   /'
    fi

    # ---- 6. PyTorch quantized inference ----------------------------------
    say "-- 6. PyTorch int8 and float inference, 1 thread, batch 1 and $DEP_BATCH (bench/torch_quant.py)"
    if ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
        fail torch_quant "$PY cannot import torch and numpy (apt-get install python3-torch python3-numpy)"
    elif ! have_mnist "$MNIST_DIR"; then
        fail torch_quant "no MNIST in $MNIST_DIR (run datasets/fetch.sh mnist, or set MNIST_DIR)"
    elif run_step torch_quant 300 "$tmp/torchq.out" -- "$PY" bench/torch_quant.py \
            --config "$DEP_CONFIG" --data "$MNIST_DIR" --batch "$DEP_BATCH" --reps "$DEP_REPS" \
            --min-ms "$DEP_MIN_MS"; then
        sed '$d' "$tmp/torchq.out" | sed 's/^/   /'
    fi
fi  # deploy

# ---- 7. comparison ---------------------------------------------------------
args=(--fma "$tmp/fma.out" --sgemm "$tmp/sgemm.out" --iotcnn "$tmp/iotcnn.out"
      --iotcnn-metrics "$tmp/iotcnn.metrics.jsonl" --torch "$tmp/torch.out"
      --time-rss "$tmp/iotcnn.time" --loadavg "$loadavg" --config "$CONFIG" --parts "$PARTS"
      --deploy "$tmp/deploy.out" --torch-quant "$tmp/torchq.out" --deploy-config "$DEP_CONFIG"
      --deploy-loadavg "${dep_loadavg:-?}" --max-isa "$MAX_ISA")
for f in "${failed[@]}"; do args+=(--failed "$f"); done
"$CMP_PY" bench/compare.py "${args[@]}"
