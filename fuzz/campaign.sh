#!/bin/sh
# fuzz/campaign.sh N_RUNS [WORK_DIR] - the long fuzzing campaign
# (docs/reliability.md): brings every target (or those in $FUZZ_TARGETS) to
# N_RUNS executions with the current code, one target after the other,
# starting from its seed corpus and from what earlier campaigns in WORK_DIR
# found, then prints a table: target, executions in this run, executions
# with this code in all runs, seconds, exec/s, corpus size, crashes.
#
# Executions add up across runs, as long as the target's code is the same: a
# ledger in WORK_DIR counts each target's executions under the fingerprint
# of the target's executable (fuzz_bin_id in fuzz/common.sh: the build is
# reproducible, so the same sources, flags and compiler give the same bytes,
# and a change in code the target does not link leaves its count alone). A
# target runs in chunks of $FUZZ_CHUNK executions (default 1,000,000), split
# over $FUZZ_JOBS libFuzzer processes side by side (default 1; one per idle
# core: they share the corpus folder and the ledger adds up their counts), and
# the ledger grows after each chunk that ends cleanly, so a campaign that is
# killed (or a machine that goes away) loses at most one chunk, and the next
# `fuzz/campaign.sh N_RUNS` runs only what is missing. Any change to what a
# target links starts its count again from zero.
#
# fuzz/ledger.txt, in the repository, is the record that outlives WORK_DIR
# (a new machine, a wiped home): one line "TARGET ID EXECUTIONS" per
# executable. A target whose ID it lists starts from that count; after each
# clean chunk the campaign writes the new count there too. Commit it with
# the campaign's results (docs/reliability.md cites it).
#
#   WORK_DIR (default $HOME/iotcnn-fuzz, outside the repository) keeps
#     corpus/TARGET     every input that found new coverage, merged (-merge=1)
#                       with the seeds at the end of each target's run
#     artifacts/        crash-*, leak-*, timeout-*, oom-* inputs
#     ledger/TARGET.ID  executions of TARGET with the code whose fingerprint
#                       is ID, over all runs
#     logs/TARGET.log   libFuzzer's output
# A crash (or leak, timeout, out-of-memory) stops libFuzzer; the campaign
# keeps the input, counts it, adds nothing to the ledger for that chunk and
# restarts the target (at most $FUZZ_MAX_RESTARTS times, default 10).
# Builds the targets first (`make fuzz`). Exit status 1 when anything
# crashed. Bounded per input like every run (fuzz/common.sh). libFuzzer's
# -timeout is wall-clock time: do not stop (SIGSTOP) a running campaign for
# longer than that, or it reports a timeout that is not one.
set -eu
cd "$(dirname "$0")/.."
. fuzz/common.sh
case ${1:-} in
'' | *[!0-9]*) echo "usage: fuzz/campaign.sh N_RUNS [WORK_DIR]" >&2; exit 2 ;;
esac
n_runs=$1
work=${2:-$HOME/iotcnn-fuzz}
mkdir -p "$work/artifacts" "$work/logs"
work=$(cd "$work" && pwd)
make fuzz -j2 >/dev/null
max_restarts=${FUZZ_MAX_RESTARTS:-10}
chunk=${FUZZ_CHUNK:-1000000}
jobs=${FUZZ_JOBS:-1}
case $jobs in '' | *[!0-9]* | 0) echo "campaign: FUZZ_JOBS must be a whole number >= 1" >&2; exit 2 ;; esac
mkdir -p "$work/ledger"
record=fuzz/ledger.txt
[ -f "$record" ] || : >"$record"

# record_get TARGET ID: the executions fuzz/ledger.txt holds for them (0).
record_get() {
    awk -v t="$1" -v id="$2" '$1 == t && $2 == id { n = $3 } END { print n + 0 }' "$record"
}

# record_set TARGET ID N: that line becomes "TARGET ID N" (added if new).
record_set() {
    awk -v t="$1" -v id="$2" -v n="$3" '
        $1 == t && $2 == id { if (!seen) print t, id, n; seen = 1; next }
        { print }
        END { if (!seen) print t, id, n }' "$record" >"$record.tmp" && mv "$record.tmp" "$record"
}

table=$work/logs/table.txt
{
    echo "sources $(fuzz_code_id) (the ledger counts per executable: column 'binary')"
    printf '%-9s %16s %12s %12s %9s %8s %8s %8s\n' target binary executions "this code" seconds \
        exec/s corpus crashes
} >"$table"
cat "$table"
failed=0
for t in $FUZZ_TARGETS; do
    bin=$FUZZ_BUILD/fuzz/$t
    corpus=$work/corpus/$t
    log=$work/logs/$t.log
    bin_id=$(fuzz_bin_id "$bin")
    ledger=$work/ledger/$t.$bin_id
    mkdir -p "$corpus"
    : >"$log"
    [ -f "$ledger" ] || echo 0 >"$ledger"
    recorded=$(record_get "$t" "$bin_id")
    [ "$recorded" -le "$(cat "$ledger")" ] || echo "$recorded" >"$ledger"
    done_runs=0 crashes=0 restarts=0
    t0=$(date +%s)
    while [ "$(cat "$ledger")" -lt "$n_runs" ]; do
        left=$((n_runs - $(cat "$ledger")))
        [ "$left" -le "$chunk" ] || left=$chunk
        before=$(ls "$work/artifacts" | grep -c "^$t-" || true)
        # $jobs processes of about left / jobs runs each, on the same corpus
        per=$(((left + jobs - 1) / jobs))
        j=0 ok=1
        while [ "$j" -lt "$jobs" ]; do
            # shellcheck disable=SC2046
            "$bin" $(fuzz_flags "$t" "$work/artifacts/$t-") -runs="$per" -print_final_stats=1 \
                "$corpus" "fuzz/corpus/$t" >"$log.$j" 2>&1 &
            eval "pid_$j=\$!"
            j=$((j + 1))
        done
        j=0 ran_all=0
        while [ "$j" -lt "$jobs" ]; do
            clean=1
            eval "wait \$pid_$j" || { clean=0; ok=0; }
            ran=$(fuzz_stat number_of_executed_units "$log.$j")
            # a clean run that printed no count ran all it was asked to
            [ -n "$ran" ] || { [ "$clean" -eq 1 ] && ran=$per || ran=0; }
            ran_all=$((ran_all + ran))
            cat "$log.$j" >>"$log" && rm -f "$log.$j"
            j=$((j + 1))
        done
        done_runs=$((done_runs + ran_all))
        if [ "$ok" -eq 1 ]; then
            echo $(($(cat "$ledger") + ran_all)) >"$ledger.tmp" && mv "$ledger.tmp" "$ledger"
            record_set "$t" "$bin_id" "$(cat "$ledger")"
            continue
        fi
        after=$(ls "$work/artifacts" | grep -c "^$t-" || true)
        crashes=$((crashes + (after > before ? after - before : 1)))
        restarts=$((restarts + 1))
        if [ "$restarts" -ge "$max_restarts" ]; then
            echo "campaign: $t crashed $restarts times; stopping it (see $log)" >&2
            break
        fi
    done
    t1=$(date +%s)
    # keep the corpus small: only inputs that add coverage over the seeds
    merged=$work/corpus/$t.merged
    rm -rf "$merged"
    mkdir -p "$merged"
    # shellcheck disable=SC2046
    "$bin" $(fuzz_flags "$t" "$work/artifacts/$t-merge-") -merge=1 "$merged" "fuzz/corpus/$t" \
        "$corpus" >>"$log" 2>&1 && rm -rf "$corpus" && mv "$merged" "$corpus" || rm -rf "$merged"
    secs=$((t1 - t0))
    rate=$([ "$secs" -gt 0 ] && echo $((done_runs / secs)) || echo "$done_runs")
    size=$(ls "$corpus" | wc -l)
    printf '%-9s %16s %12s %12s %9s %8s %8s %8s\n' "$t" "$bin_id" "$done_runs" "$(cat "$ledger")" \
        "$secs" "$rate" "$size" "$crashes" >>"$table"
    [ "$crashes" -eq 0 ] || failed=1
    tail -n 1 "$table"
done
echo
cat "$table"
echo "(corpora in $work/corpus, crash inputs in $work/artifacts, logs in $work/logs)"
exit "$failed"
