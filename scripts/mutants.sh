#!/usr/bin/env bash
# mutants.sh - plants plausible one-line bugs, one at a time, and checks
# that `make test` catches each (docs/testing.md lists them and the tests
# that catch them).
#
#   scripts/mutants.sh [--list] [NAME...]
#
# With NAMEs, only those mutants run (a name or a prefix: "train-" runs
# every training mutant). Each mutant replaces one exact fragment of one
# source file (the table below). The work happens in a scratch copy of
# this tree (the tracked and untracked, not ignored, files), never here:
# it is built once, then for each mutant the fragment is replaced, the
# suite rebuilt and run, and the file restored. A mutant whose fragment is
# not found exactly once is STALE (the source moved on: update the table);
# one that does not compile is reported too. Output, per mutant:
#     caught  NAME  by suite::test, ...
#     MISSED  NAME  (the suite passed with this bug)
# Exit status 0 when every mutant run was caught, 1 otherwise.
#
# It takes about 25 s per mutant on a 2-core machine (the whole suite each
# time), so it is not part of CI. MUTANTS_DIR=DIR keeps the scratch copy
# there (reused, only changed files rebuilt) instead of a fresh temporary
# one; JOBS (default 2) is make's -j.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

names=() files=() olds=() news=()
# m NAME FILE OLD NEW: OLD must occur exactly once in FILE.
m() { names+=("$1"); files+=("$2"); olds+=("$3"); news+=("$4"); }

# --- the training step (libnn/nn_train.c) ---
m train-lr-off-by-one libnn/nn_train.c \
  'nn_schedule_lr(&cfg->schedule, ts->step, steps_per_epoch' \
  'nn_schedule_lr(&cfg->schedule, ts->step + 1, steps_per_epoch'
m train-lr-per-epoch libnn/nn_train.c \
  'nn_schedule_lr(&cfg->schedule, ts->step, steps_per_epoch' \
  'nn_schedule_lr(&cfg->schedule, (uint64_t)(epoch - 1) * steps_per_epoch, steps_per_epoch'
m train-decay-on-biases libnn/nn_train.c \
  'spans[k++] = (nn_param_span){nd->b.off, nd->b.n, 0};' \
  'spans[k++] = (nn_param_span){nd->b.off, nd->b.n, 1};'
m train-decay-on-batchnorm libnn/nn_train.c \
  'int decays = nd->spec.type == NN_LAYER_CONV2D || nd->spec.type == NN_LAYER_DENSE;' \
  'int decays = nd->spec.type != NN_LAYER_ADD;'
m train-decay-skips-dense libnn/nn_train.c \
  'int decays = nd->spec.type == NN_LAYER_CONV2D || nd->spec.type == NN_LAYER_DENSE;' \
  'int decays = nd->spec.type == NN_LAYER_CONV2D;'
m train-label-smoothing-ignored libnn/nn_train.c \
  'nn_softmax_xent(dlogits, logits, labels, B, k, cfg->label_smoothing,' \
  'nn_softmax_xent(dlogits, logits, labels, B, k, 0.0f,'
m train-val-flip-ignored libnn/nn_train.c \
  'evaluate_with(ex, m, val, eval_batch, cfg->test_flip, flip_sum,' \
  'evaluate_with(ex, m, val, eval_batch, 0, flip_sum,'
m train-schedule-total-epochs libnn/nn_train.c \
  'steps_per_epoch, cfg->epochs);' \
  'steps_per_epoch, cfg->epochs + 1);'

# --- CLI plumbing (cmd/, pipeline/) ---
m cli-augment-not-passed pipeline/pl_fit.c \
  'if (aug_enabled(&cfg->augment)) {' \
  'if (0 && aug_enabled(&cfg->augment)) {'
m cli-affine-p-ignored config/cfg.c \
  '{"affine_p", &a->p_affine,' \
  '{"affine_p", &a->p_hflip,'
m cli-train-test-flip-ignored pipeline/pl_train.c \
  'nn_eval_config ec = {j->cfg.train.eval_batch, o->threads, j->cfg.test_flip};' \
  'nn_eval_config ec = {j->cfg.train.eval_batch, o->threads, 0};'
m cli-eval-test-flip-ignored pipeline/pl_evaluate.c \
  'out->test_flip = q->test_flip < 0 ? cfg.test_flip : q->test_flip;' \
  'out->test_flip = q->test_flip < 0 ? 0 : q->test_flip;'
m cli-iotc-test-flip-ignored pipeline/pl_evaluate.c \
  '*test_flip = flip && strcmp(flip, "true") == 0;' \
  '*test_flip = flip && strcmp(flip, "1") == 0;'
m cli-threads-ignored pipeline/pl_fit.c \
  '.threads = spec->threads,' \
  '.threads = 1,'
m cli-limit-ignored pipeline/pl_fit.c \
  'st = ds_limit_split(train, val, cfg->data.limit,' \
  'st = ds_limit_split(train, val, 0,'
m cli-epochs-ignored pipeline/pl_train.c \
  '        j->cfg.train.epochs = o->epochs;' \
  '        (void)0;'
m cli-seed-ignored pipeline/pl_train.c \
  '        j->cfg.train.seed = (uint64_t)o->seed;' \
  '        (void)0;'
m cli-eval-batch-ignored cmd/cmd_eval.c \
  'cJSON_AddNumberToObject(j, "batch", o->batch);' \
  'cJSON_AddNumberToObject(j, "batch", 256);'
m cli-eval-json-correct cmd/cmd_eval.c \
  'cJSON_AddNumberToObject(j, "correct", r->correct);' \
  'cJSON_AddNumberToObject(j, "correct", r->n);'

# --- MAC and memory reports ---
m macs-conv-ignores-stride libnn/nn_model.c \
  'nd->macs = (uint64_t)nd->out_c * nd->out_h * nd->out_w * nd->in_c * k2;' \
  'nd->macs = (uint64_t)nd->out_c * nd->in_h * nd->in_w * nd->in_c * k2;'
m macs-dense-without-input libnn/nn_model.c \
  'nd->macs = (uint64_t)l->units * nd->in_size;' \
  'nd->macs = (uint64_t)l->units * nd->in_c;'
m macs-int8-conv-no-channels format/qmodel.c \
  'case QM_CONV2D: return out * op->kernel * op->kernel * op->in_c;' \
  'case QM_CONV2D: return out * op->kernel * op->kernel;'
m macs-effective-ignores-zeros prune/prune_report.c \
  's->effective_macs *= (double)(s->weights - s->zeros) / (double)s->weights;' \
  's->effective_macs *= 1.0;'
m memory-float-arena-input-dies-early libnn/nn_graph.c \
  'value_bytes, -1, g->last[0], -1, 0};' \
  'value_bytes, -1, g->last[0] - 1, -1, 0};'
m memory-float-arena-relu-copies libnn/nn_graph.c \
  'g->relu_on[i] = src;' \
  'g->relu_on[i] = -1;'
m memory-int8-arena-no-reuse libnn/nn_arena.c \
  'return a->first <= b->last && b->first <= a->last;' \
  'return a->first <= b->last || b->first <= a->last;'
m macs-pool-without-window libnn/nn_model.c \
  'nd->macs = (uint64_t)nd->out_c * nd->out_h * nd->out_w * l->kernel * l->kernel;' \
  'nd->macs = (uint64_t)nd->out_c * nd->out_h * nd->out_w * l->kernel;'

# --- model specs (libnn/nn_model.c) ---
m spec-pool-window-unchecked libnn/nn_model.c \
  'return layer_error(err, i, l, "window larger than the input");' \
  'break;'
m spec-add-second-operand-shape libnn/nn_model.c \
  'const nn_node *src = &m->nodes[l->input2];' \
  'const nn_node *src = &m->nodes[l->input];'
m spec-conv-pad-unchecked libnn/nn_model.c \
  'l->pad >= l->kernel)' \
  'l->pad > l->kernel)'

# --- datasets/tools/cifar_png2bin.c ---
m png2bin-planes-swapped datasets/tools/cifar_png2bin.c \
  'rec[1 + PIXELS + j] = src[3 * j + 1];' \
  'rec[1 + PIXELS + j] = src[3 * j + 2];'
m png2bin-labels-restart datasets/tools/cifar_png2bin.c \
  'rc = convert(pkg, png, train.v + at, train.n - at, &used, out_dir, bin, err);' \
  'rc = convert(pkg, png, train.v, train.n - at, &used, out_dir, bin, err);'
m png2bin-label-range datasets/tools/cifar_png2bin.c \
  'if (v < 0 || v > 9 || v != (double)(int)v) {' \
  'if (v < 0 || v > 10 || v != (double)(int)v) {'

# --- the executor's backward (libnn/nn_exec.c) ---
m exec-avgpool-backward-skipped libnn/nn_exec.c \
  '            nn_avgpool_backward(din, dout, s.n, &d);' \
  '            (void)d;'
m exec-global-avgpool-backward-scale libnn/nn_exec.c \
  'nn_global_avgpool_backward(din, dout, s.n, s.nd->in_c, s.nd->in_h * s.nd->in_w);' \
  'nn_global_avgpool_backward(din, dout, s.n, s.nd->in_c, s.nd->in_w);'
m exec-add-second-operand-dropped libnn/nn_exec.c \
  'float *din2 = src2 == s.nd->spec.input ? din : grad_slice(ex, src2, j->node, s.b0, s.n);' \
  'float *din2 = src2 == s.nd->spec.input ? din : NULL;'
m exec-dropout-backward-unmasked libnn/nn_exec.c \
  '        if (din && s.nd->spec.rate > 0.0f)
            nn_dropout_backward(' \
  '        if (din && s.nd->spec.rate > 2.0f)
            nn_dropout_backward('
m exec-bn-backward-batch-count libnn/nn_exec.c \
  'double count = (double)j->n * s.hw;' \
  'double count = (double)s.n * s.hw;'

# --- the runtime's portable S8 conv and 32-bit requantization (runtime/) ---
m rt-s8c-offset-half runtime/rt_conv.c \
  'bias[o] = (uint32_t)q->bias[o] - (sw << 7);' \
  'bias[o] = (uint32_t)q->bias[o] - (sw << 6);'
m rt-s8c-pad-unshifted runtime/rt_conv.c \
  'const uint8_t pad = (uint8_t)(j->in_zero ^ 0x80);' \
  'const uint8_t pad = (uint8_t)j->in_zero;'
m rt-mulhi-carry-dropped runtime/rt_internal.h \
  'const int32_t u = (int32_t)(al * (uint32_t)bh) + (t & 0xffff);' \
  'const int32_t u = (int32_t)(al * (uint32_t)bh);'

# Everything below runs from main, which bash reads whole before running
# it: editing this file while it runs does not disturb the run.
main() {
list=0
want=()
for a in "$@"; do
    case $a in
    --list) list=1 ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) want+=("$a") ;;
    esac
done
selected=()
for i in "${!names[@]}"; do
    if [ ${#want[@]} -eq 0 ]; then
        selected+=("$i")
        continue
    fi
    for w in "${want[@]}"; do
        if [[ ${names[$i]} == "$w"* ]]; then
            selected+=("$i")
            break
        fi
    done
done
if [ $list -eq 1 ]; then
    for i in "${selected[@]}"; do printf '%-36s %s\n' "${names[$i]}" "${files[$i]}"; done
    exit 0
fi
[ ${#selected[@]} -gt 0 ] || { echo "mutants: no mutant matches: ${want[*]}" >&2; exit 2; }

if [ -n "${MUTANTS_DIR:-}" ]; then
    work=$MUTANTS_DIR
    mkdir -p "$work"
else
    work=$(mktemp -d /tmp/iotcnn-mutants-XXXXXX)
    trap 'rm -rf "$work"' EXIT
    # mktemp's 0700 would keep the suite's unprivileged runs (cli_fail
    # drops to nobody) from reaching the binary: they would fail with
    # every mutant and pass for catching it.
    chmod 755 "$work"
fi
jobs=${JOBS:-2}
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$work"
echo "mutants: scratch tree $work; building ..." >&2
make -C "$work" -j"$jobs" all build/tests/iotcnn_tests >"$work/build.log" 2>&1 ||
    { tail -n 20 "$work/build.log" >&2; echo "mutants: the unmutated tree does not build" >&2; exit 1; }
# The unmutated suite must pass here, or a failing test would count as
# catching every mutant.
if ! (cd "$work" && IOTCNN_BIN="$work/bin/iotcnn" build/tests/iotcnn_tests) >"$work/baseline.log" 2>&1; then
    sed -n 's/^\[FAIL\] \([^:]*::[^:]*\):.*/  \1/p' "$work/baseline.log" | sort -u >&2
    echo "mutants: the unmutated suite fails in $work (above; log: $work/baseline.log)" >&2
    exit 1
fi

# replace FILE OLD NEW: exactly one occurrence, else exit 3.
replace() {
    python3 - "$1" "$2" "$3" <<'EOF'
import sys
path, old, new = sys.argv[1:]
text = open(path).read()
if text.count(old) != 1:
    sys.exit(3)
open(path, "w").write(text.replace(old, new))
EOF
}

missed=0
for i in "${selected[@]}"; do
    name=${names[$i]} file=$work/${files[$i]}
    cp "$file" "$work/.pristine"
    if ! replace "$file" "${olds[$i]}" "${news[$i]}"; then
        printf 'STALE   %-36s (fragment not found once in %s)\n' "$name" "${files[$i]}"
        missed=1
        continue
    fi
    log=$work/mutant-$name.log
    if ! make -C "$work" -j"$jobs" all build/tests/iotcnn_tests >"$log" 2>&1; then
        printf 'NOBUILD %-36s (see %s)\n' "$name" "$log"
        missed=1
    elif (cd "$work" && IOTCNN_BIN="$work/bin/iotcnn" build/tests/iotcnn_tests) >>"$log" 2>&1; then
        printf 'MISSED  %-36s (the suite passed with this bug)\n' "$name"
        missed=1
    else
        by=$(sed -n 's/^\[FAIL\] \([^:]*::[^:]*\):.*/\1/p' "$log" | sort -u | paste -sd, - | sed 's/,/, /g')
        printf 'caught  %-36s by %s\n' "$name" "${by:-a failing run (see $log)}"
    fi
    cp "$work/.pristine" "$file"
    touch "$file"
done
# Leave a reused tree built as the source is.
[ -z "${MUTANTS_DIR:-}" ] || make -C "$work" -j"$jobs" all build/tests/iotcnn_tests >/dev/null 2>&1 || true
exit $missed
}

main "$@"
