#!/usr/bin/env bash
# kill9_check.sh - kill -9 `iotcnn train` in the middle of a checkpoint
# write, N times in a row (default 40), and check that no stale temporary
# survives the next run, and that the checkpoint on disk is always whole.
#
#   scripts/kill9_check.sh [N]        (IOTCNN_BIN overrides bin/iotcnn)
#
# Two phases of N kills each:
#   unnamed  the normal path: the data goes to an unnamed O_TMPFILE file,
#            so a kill while writing leaves nothing (the kill lands when
#            /proc/PID/fd shows an unnamed file of at least 64 KiB in the
#            run directory: the checkpoint being written);
#   named    the fallback where O_TMPFILE or /proc is missing, forced by
#            making linkat fail (strace fault injection); the kill lands
#            while m.ckpt.tmp.<pid>.<start>.<boot>.<ns> exists, so every
#            kill leaves a stale temporary that the next run must remove.
#            Skipped, with a note, when strace is not installed.
# Where the file system syncs at once, a write lasts a few hundred
# microseconds and polling from a shell can miss it for a long time on a
# loaded machine; so both phases run under strace with each fsync held
# 50 ms (delay injection): the kill then lands with the whole checkpoint
# in the temporary and not yet in place, the state a crash must not leak.
# Without strace the unnamed phase polls unaided.
# Each run after a kill must have removed the temporaries of the killed
# ones by its first write; after the last kill one more short run writes
# to the directory and nothing named *.tmp.* may remain. After every kill
# `iotcnn info` must read m.ckpt (never a partial file). Exit 0 when all
# holds, 1 otherwise. Under a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${IOTCNN_BIN:-bin/iotcnn}
N=${1:-40}
[ -x "$BIN" ] || { echo "kill9_check: $BIN not built (make)" >&2; exit 2; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

work=$(mktemp -d "${TMPDIR:-/tmp}/iotcnn-kill9-XXXXXX")
child=
cleanup() {
    [ -n "$child" ] && kill -9 "$child" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# 200 random 12x12 images (labels 0..9) as both splits, in IDX files.
mkdir -p "$work/data" "$work/run"
for split in train t10k; do
    { printf '\x00\x00\x08\x03\x00\x00\x00\xc8\x00\x00\x00\x0c\x00\x00\x00\x0c'
      head -c 28800 /dev/urandom; } >"$work/data/$split-images-idx3-ubyte"
    { printf '\x00\x00\x08\x01\x00\x00\x00\xc8'
      for _ in $(seq 20); do printf '\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09'; done
    } >"$work/data/$split-labels-idx1-ubyte"
done
# A dense network whose checkpoint is about 2.5 MB (weights and momentum),
# so that writing it takes most of each (tiny) epoch.
cat >"$work/cfg.json" <<EOF
{"data": {"dataset": "mnist", "dir": "$work/data", "mean": [0.5], "std": [0.3]},
 "model": {"layers": [{"type": "flatten"}, {"type": "dense", "units": 2000},
                      {"type": "relu"}, {"type": "dense", "units": 10}]},
 "train": {"epochs": 100000, "batch_size": 100, "lr": 0.01}}
EOF
run=$work/run
train=("$BIN" train -c "$work/cfg.json" -o "$run/m.ckpt" --threads 1)
# strace holding each fsync 50 ms; the phases add what they trace.
slow=(strace -f -qq -o /dev/null --seccomp-bpf -e inject=fsync:delay_enter=50000)

temporaries() { find "$run" -maxdepth 1 -name '*.tmp.*' | sort; }

# 0 when pid has an unnamed file of >= 64 KiB open in the run directory.
writing_unnamed() {
    local fd target
    for fd in /proc/"$1"/fd/*; do
        target=$(readlink "$fd" 2>/dev/null) || continue
        case $target in
        "$run/#"*" (deleted)")
            [ "$(stat -L -c %s "$fd" 2>/dev/null || echo 0)" -ge 65536 ] && return 0 ;;
        esac
    done
    return 1
}

# 0 when a named temporary of m.ckpt of pid exists.
writing_named() { compgen -G "$run/m.ckpt.tmp.$1.*" >/dev/null; }

# The pid of the iotcnn process: $1 itself, or its child under strace.
iotcnn_pid() {
    local p
    for _ in $(seq 500); do
        for p in "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
            [ "$(readlink /proc/"$p"/exe 2>/dev/null)" = "$BIN" ] && { echo "$p"; return 0; }
        done
        sleep 0.01
    done
    return 1
}

fail=0
# phase NAME: N kills with the command "$@" (which runs iotcnn train).
phase() {
    local name=$1 check=$2; shift 2
    local i pid stale left=0 hits=0
    for i in $(seq "$N"); do
        "$@" >/dev/null 2>&1 &
        child=$!
        pid=$(iotcnn_pid "$child") || { echo "$name: iotcnn did not start"; fail=1; return; }
        local deadline=$((SECONDS + 60))
        until "$check" "$pid"; do
            if [ $SECONDS -gt $deadline ] || ! kill -0 "$pid" 2>/dev/null; then
                echo "$name: kill $i: no checkpoint write seen in 60 s"; fail=1; break
            fi
        done
        kill -9 "$pid" 2>/dev/null && hits=$((hits + 1))
        wait "$child" 2>/dev/null || true
        child=
        # This run had written at least once: the earlier kills' temporaries
        # must be gone; its own may be left.
        stale=$(temporaries | grep -v "\.tmp\.$pid\." || true)
        if [ -n "$stale" ]; then
            echo "$name: kill $i: stale temporaries survived a run that wrote:"; echo "$stale"
            fail=1
        fi
        [ -n "$(temporaries)" ] && left=$((left + 1))
        if [ -e "$run/m.ckpt" ] && ! "$BIN" info -m "$run/m.ckpt" >/dev/null 2>&1; then
            echo "$name: kill $i: m.ckpt is not a whole checkpoint"; fail=1
        fi
    done
    "$BIN" train -c "$work/cfg.json" -o "$run/m.ckpt" --threads 1 --epochs 1 >/dev/null 2>&1 || {
        echo "$name: the run after the last kill failed"; fail=1; }
    stale=$(temporaries)
    if [ -n "$stale" ]; then
        echo "$name: stale temporaries after the next run:"; echo "$stale"; fail=1
    fi
    echo "$name: $hits kills -9 during a checkpoint write, $left left a temporary behind," \
         "$(echo -n "$stale" | grep -c . || true) survived the next run"
}

if command -v strace >/dev/null 2>&1; then
    phase unnamed writing_unnamed "${slow[@]}" -e trace=fsync "${train[@]}"
    rm -f "$run"/*
    phase named writing_named "${slow[@]}" -e trace=fsync,linkat \
        -e inject=linkat:error=ENOENT "${train[@]}"
else
    phase unnamed writing_unnamed "${train[@]}"
    echo "named: skipped (strace is not installed; it forces the named fallback)"
fi
[ $fail -eq 0 ] && echo "kill9_check: OK" || echo "kill9_check: FAILED"
exit $fail
