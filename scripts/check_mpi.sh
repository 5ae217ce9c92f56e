#!/usr/bin/env bash
# check_mpi.sh - training over MPI processes on this host, over loopback
# (docs/distributed.md). Needs bin/iotcnn built with `make MPI=1` and
# Open MPI's mpirun (scripts/deps.sh mpi).
#
#   scripts/check_mpi.sh          (IOTCNN_BIN overrides bin/iotcnn)
#
# On random 12x12 images (a conv network with batch norm, dropout and
# augmentation, a validation split):
#   same bits   mpirun -np 2 --threads 1 writes the checkpoint (and the best
#               one, and the metrics apart from times) byte for byte as one
#               process with --threads 2, and reports the same test accuracy
#               and loss; -np 3 --threads 1 as --threads 3 (uneven slices);
#               -np 2 --threads 2 as --threads 4
#   shards      each of P processes read about 1/P of the images the run
#               uses (images_read_max of --json: training batches and
#               validation every epoch, the test set once), not all of them;
#               gzip image files are refused under mpirun with the hint to
#               gunzip them
#   resume      a run stopped by 2 processes and resumed by 1, and the
#               other way round: the bytes of the run never stopped
#   kill        rank 1 killed (SIGKILL) in the middle of an epoch: mpirun
#               ends the job with a non-zero status naming the rank, no
#               process is left, and the checkpoint on disk is whole and
#               byte-identical to the one an unbroken run writes at that epoch
#   fail        rank 1 alone fails inside an epoch (IOTCNN_TEST_FAIL, as a
#               data error would): the job ends (no hang) with one message
#               naming the process, a non-zero status, no process left, and
#               the last epoch's checkpoint intact
#   refusals    a different config, a different binary on one process: the
#               job is refused before training, with one message; a data
#               error on one process (its data folder missing): one message,
#               from that process
#   other commands  info, prune, quantize, eval started by mpirun -np 2:
#               refused (status 2, one message), nothing written
# Exit 0 when all holds, 1 otherwise. About a minute on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${IOTCNN_BIN:-bin/iotcnn}
[ -x "$BIN" ] || { echo "check_mpi: $BIN not built (make MPI=1)" >&2; exit 2; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
command -v mpirun >/dev/null || { echo "check_mpi: no mpirun (scripts/deps.sh mpi)" >&2; exit 2; }
"$BIN" --version | grep -q '^MPI: Open MPI' ||
    { echo "check_mpi: $BIN is built without MPI (make MPI=1)" >&2; exit 2; }

# Loopback only; root in CI containers; more processes than cores.
MPIRUN=(mpirun --oversubscribe --mca btl self,tcp --mca btl_tcp_if_include lo)
[ "$(id -u)" -eq 0 ] && MPIRUN+=(--allow-run-as-root)

work=$(mktemp -d "${TMPDIR:-/tmp}/iotcnn-mpi-XXXXXX")
job= # a background mpirun, killed if this script ends first
trap 'if [ -n "$job" ]; then kill -9 "$job" 2>/dev/null; fi; rm -rf "$work"' EXIT
fails=0
ok() { echo "check_mpi: ok: $*"; }
fail() { echo "check_mpi: FAIL: $*"; fails=$((fails + 1)); }

# 1200 training and 200 test images, 12x12, random pixels, labels 0..9.
mkdir -p "$work/data"
be32() { # a 32-bit big-endian number
    local s
    for s in 24 16 8 0; do printf "\\$(printf %03o $((($1 >> s) & 255)))"; done
}
idx() { # name count
    { printf '\x00\x00\x08\x03'; be32 "$2"
      printf '\x00\x00\x00\x0c\x00\x00\x00\x0c'; head -c $(($2 * 144)) /dev/urandom
    } >"$work/data/$1-images-idx3-ubyte"
    { printf '\x00\x00\x08\x01'; be32 "$2"
      for _ in $(seq $(($2 / 10))); do printf '\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09'; done
    } >"$work/data/$1-labels-idx1-ubyte"
}
idx train 1200
idx t10k 200
config() { # file, data dir
    cat >"$1" <<EOF
{"data": {"dataset": "mnist", "dir": "$2", "validation": 200, "mean": [0.5], "std": [0.3]},
 "model": {"layers": [
   {"type": "conv2d", "filters": 8, "kernel": 3, "pad": 1, "bias": false},
   {"type": "batchnorm"}, {"type": "relu"}, {"type": "maxpool", "size": 2},
   {"type": "conv2d", "filters": 16, "kernel": 3, "pad": 1, "bias": false},
   {"type": "batchnorm"}, {"type": "relu"}, {"type": "flatten"},
   {"type": "dense", "units": 32}, {"type": "relu"}, {"type": "dropout", "rate": 0.3},
   {"type": "dense", "units": 10}]},
 "augment": {"rotate": 8, "zoom": 0.08, "translate": 0.06},
 "train": {"epochs": 3, "batch_size": 50, "lr": 0.05, "eval_batch": 64, "seed": 7,
           "optimizer": {"type": "sgd", "momentum": 0.9, "nesterov": true},
           "schedule": {"type": "onecycle"}, "label_smoothing": 0.1}}
EOF
}
config "$work/cfg.json" "$work/data"
cd "$work"

# The metrics log without its times (the one thing that may differ).
untimed() { sed -E 's/"(seconds|load_seconds|images_per_second|unix_time)":[0-9.e+-]+//g' "$1"; }

same_run() { # label, reference model, model[, "resumed"]
    # A resumed run's metrics restart the divergence rule's loss_ratio_max
    # (not in the checkpoint), as they do in one process.
    local a=${2%.ckpt}.metrics.jsonl b=${3%.ckpt}.metrics.jsonl
    if cmp -s "$2" "$3" && cmp -s "${2%.ckpt}.best.ckpt" "${3%.ckpt}.best.ckpt" &&
        { [ $# -gt 3 ] || diff -q <(untimed "$a") <(untimed "$b") >/dev/null; }; then
        ok "$1: the same checkpoint, best checkpoint${4:-" and metrics"}, byte for byte"
    else
        fail "$1: the checkpoints or metrics differ ($2, $3)"
    fi
}

train() { "$BIN" train -c cfg.json "$@" >>log.txt 2>&1; }
json_of() { sed -n "s/.*\"$2\":\([0-9.e+-]*\).*/\1/p" "$1"; } # file, key
mpi() { # processes, then train's arguments
    local n=$1
    shift
    "${MPIRUN[@]}" -np "$n" "$BIN" train -c cfg.json "$@" >>log.txt 2>&1
}
# The same with --json, its result into the file named first.
train_json() { local out=$1; shift; "$BIN" train -c cfg.json --json "$@" >"$out" 2>>log.txt; }
mpi_json() { # file, processes, then train's arguments
    local out=$1 n=$2
    shift 2
    "${MPIRUN[@]}" -np "$n" "$BIN" train -c cfg.json --json "$@" >"$out" 2>>log.txt
}

# The images a run of this config uses: 3 epochs of 20 batches of 50 and
# the 200 validation images, then the 200 test images.
used=$((3 * (20 * 50 + 200) + 200))
batches=$((3 * (20 + 4) + 4)) # evaluation batches of 64: 4 for 200 images
shard_reads() { # label, processes, the P-process run's --json
    local max
    max=$(json_of "$3" images_read_max)
    # Slices are whole images: at most one more image per batch than 1/P.
    if [ -n "$max" ] && [ "$max" -le $((used / $2 + batches)) ] &&
        [ "$max" -ge $((used / $2 - batches)) ]; then
        ok "$1: the busiest process read $max images of the $used the run uses"
    else
        fail "$1: the busiest process read ${max:-?} images, not about $used / $2"
    fi
}
same_test() { # label, two --json outputs
    local k bad=
    for k in test_accuracy test_loss test_images; do
        [ "$(json_of "$2" $k)" = "$(json_of "$3" $k)" ] || bad="$bad $k"
    done
    if [ -z "$bad" ] && [ -n "$(json_of "$2" test_accuracy)" ]; then
        ok "$1: the same test accuracy and loss ($(json_of "$2" test_accuracy))"
    else
        fail "$1: the test results differ:$bad"
    fi
}

# --- same bits ---------------------------------------------------------------
train_json t2.json --threads 2 -o t2.ckpt
mpi_json p2.json 2 --threads 1 -o p2.ckpt
same_run "-np 2 --threads 1 against one process --threads 2" t2.ckpt p2.ckpt
same_test "-np 2 --threads 1 against one process --threads 2" t2.json p2.json
shard_reads "-np 2 shards" 2 p2.json
train --threads 3 -o t3.ckpt
mpi_json p3.json 3 --threads 1 -o p3.ckpt
same_run "-np 3 --threads 1 against one process --threads 3" t3.ckpt p3.ckpt
shard_reads "-np 3 shards" 3 p3.json
train --threads 4 -o t4.ckpt
mpi 2 --threads 2 -o p2t2.ckpt
same_run "-np 2 --threads 2 against one process --threads 4" t4.ckpt p2t2.ckpt

# --- resume with another process count -----------------------------------------
mpi 2 --threads 1 --stop-after 1 -o r1.ckpt
train --resume r1.ckpt --threads 2
same_run "stopped by 2 processes, resumed by 1" t2.ckpt r1.ckpt " (resumed: not the metrics)"
train --threads 2 --stop-after 2 -o r2.ckpt
mpi 2 --resume r2.ckpt --threads 1
same_run "stopped by 1 process, resumed by 2" t2.ckpt r2.ckpt " (resumed: not the metrics)"

# --- kill one rank mid-epoch ------------------------------------------------------
# Batches of 2: 500 steps an epoch, each a round of messages, so an epoch
# takes a second or more; rank 1 dies a second after the first checkpoint.
sed 's/"batch_size": 50/"batch_size": 2/' cfg.json >kcfg.json
kill_args=(-c kcfg.json --threads 1 --epochs 200)
"${MPIRUN[@]}" -np 2 "$BIN" train "${kill_args[@]}" -o k.ckpt >kill.out 2>kill.err &
job=$!
rank_pid() { # the pid of rank $1 among the mpirun's children
    local p
    for p in $(pgrep -P "$job"); do
        tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1" &&
            { echo "$p"; return 0; }
    done
    return 1
}
for _ in $(seq 600); do [ -s k.metrics.jsonl ] && break; sleep 0.1; done
sleep 1 # into epoch 2
rank0=$(rank_pid 0 || true)
victim=$(rank_pid 1 || true)
if [ -z "$victim" ] || [ -z "$rank0" ] || [ ! -s k.metrics.jsonl ]; then
    fail "kill: rank 1 or its first epoch not found"
    cat kill.err
else
    kill -9 "$victim"
    status=0
    wait "$job" || status=$?
    job=
    epochs=$("$BIN" info -m k.ckpt --json | sed -n 's/.*"epochs_done":\([0-9]*\).*/\1/p')
    msg=$(grep -c 'rank 1 .*signal 9' kill.err || true)
    for _ in $(seq 50); do kill -0 "$rank0" 2>/dev/null || break; sleep 0.1; done
    left=$(kill -0 "$rank0" 2>/dev/null && echo "rank 0 ($rank0): $(ps -o stat=,cmd= -p "$rank0")" || true)
    if [ "$status" -eq 0 ] || [ "$msg" -ne 1 ] || [ -n "$left" ]; then
        fail "kill: status $status, $msg lines naming rank 1, processes left: ${left:-none}"
        cat kill.err
    elif [ -z "$epochs" ] || [ "$epochs" -lt 1 ]; then
        fail "kill: k.ckpt is not a whole checkpoint"
    else
        # The checkpoint an unbroken run writes after that many epochs.
        "$BIN" train "${kill_args[@]}" --threads 2 --stop-after "$epochs" -o ref.ckpt >>log.txt 2>&1
        if cmp -s k.ckpt ref.ckpt; then
            ok "kill: status $status, mpirun names rank 1, the checkpoint of epoch $epochs is intact"
        else
            fail "kill: k.ckpt (epoch $epochs) differs from an unbroken run's"
        fi
    fi
fi

# --- a failure on one process inside an epoch ------------------------------------
# Rank 1 alone fails before step 45 (epoch 3, batch 5 of 20), as a data
# error would; rank 0 waits in the step's exchanges. The job must end (not
# hang: timeout) with one message naming the process, mpirun's non-zero
# status, no process left, and the checkpoint of epoch 2 intact.
status=0
timeout 120 "${MPIRUN[@]}" -x IOTCNN_TEST_FAIL=1:45 -np 2 "$BIN" train -c cfg.json --threads 1 \
    -o f.ckpt >fail.out 2>fail.err || status=$?
n=$(grep -c '^iotcnn train: MPI process' fail.err || true) # (the others: rank 0's progress)
left=$(pgrep -f -- "-o f.ckpt" || true)
epochs=$("$BIN" info -m f.ckpt --json 2>/dev/null | sed -n 's/.*"epochs_done":\([0-9]*\).*/\1/p')
train --threads 2 --stop-after 2 -o f-ref.ckpt
if [ "$status" -ne 0 ] && [ "$status" -ne 124 ] && [ "$n" -eq 1 ] && [ -z "$left" ] &&
    grep -q '^iotcnn train: MPI process 1 of 2: injected failure .* before step 45' fail.err &&
    [ "$epochs" = 2 ] && cmp -s f.ckpt f-ref.ckpt; then
    ok "a failure on rank 1 mid-epoch: status $status, one message, no process left, the checkpoint of epoch 2 intact"
else
    fail "a failure on rank 1 mid-epoch: status $status (124: hung), $n messages, left: ${left:-none}, checkpoint epochs ${epochs:-none}"
    cat fail.err
fi

# --- refusals and data errors ----------------------------------------------------
refused() { # label, pattern, then mpirun's arguments
    local label=$1 pattern=$2 status=0
    shift 2
    "${MPIRUN[@]}" "$@" >ref.out 2>ref.err || status=$?
    local n
    n=$(grep -c '^iotcnn train: ' ref.err || true)
    if [ "$status" -ne 0 ] && [ "$n" -eq 1 ] && grep -q "$pattern" ref.err && [ ! -e bad.ckpt ]; then
        ok "$label: refused with one message: $(grep '^iotcnn train: ' ref.err)"
    else
        fail "$label: status $status, $n messages, or a checkpoint written"
        cat ref.err
    fi
}
sed 's/"label_smoothing": 0.1/"label_smoothing": 0.2/' cfg.json >other.json
refused "another config on process 1" "process 1 has another config" \
    -np 1 "$BIN" train -c cfg.json -o bad.ckpt : -np 1 "$BIN" train -c other.json -o bad.ckpt
cp "$BIN" iotcnn-other
printf '\0' >>iotcnn-other
refused "another binary on process 1" "process 1 runs another iotcnn binary" \
    -np 1 "$BIN" train -c cfg.json -o bad.ckpt : -np 1 ./iotcnn-other train -c cfg.json -o bad.ckpt
config cfg-missing.json "$work/nodata"
refused "process 1's data missing" "nodata/train-images-idx3-ubyte: not found" \
    -np 1 "$BIN" train -c cfg.json -o bad.ckpt : -np 1 "$BIN" train -c cfg-missing.json -o bad.ckpt

mkdir -p gzdata
cp data/t10k-* data/train-labels-idx1-ubyte gzdata/
gzip -c data/train-images-idx3-ubyte >gzdata/train-images-idx3-ubyte.gz
config cfg-gz.json "$work/gzdata"
refused "gzip images under mpirun" "gzip data.*gunzip -k" \
    -np 2 "$BIN" train -c cfg-gz.json -o bad.ckpt

# Only train runs over several processes: the other commands, started as 2
# mpirun processes, refuse with one message and write nothing.
for args in "info -m p2.ckpt" "prune -c cfg.json -m p2.ckpt --epochs 1 -o bad.ckpt" \
    "quantize -c cfg.json -m p2.ckpt -o bad.iotc" "eval -m p2.ckpt"; do
    status=0
    # shellcheck disable=SC2086 # the command's words
    "${MPIRUN[@]}" -np 2 "$BIN" $args >ref.out 2>ref.err || status=$?
    cmd=${args%% *}
    n=$(grep -c "^iotcnn $cmd: " ref.err || true)
    if [ "$status" -eq 2 ] && [ "$n" -eq 1 ] &&
        grep -q 'only `iotcnn train` runs over several processes' ref.err &&
        [ ! -e bad.ckpt ] && [ ! -e bad.iotc ] && [ ! -s ref.out ]; then
        ok "$cmd under mpirun -np 2: refused (status 2, one message)"
    else
        fail "$cmd under mpirun -np 2: status $status, $n messages, or output written"
        cat ref.out ref.err
    fi
done

if [ "$fails" -ne 0 ]; then
    echo "check_mpi: $fails check(s) failed; the runs' output:"
    cat log.txt
    exit 1
fi
echo "check_mpi: all checks passed"
