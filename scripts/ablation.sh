#!/usr/bin/env bash
# ablation.sh - what each regularizer buys: trains a config several ways and
# prints a Markdown table of test accuracy and time.
#
#   scripts/ablation.sh CONFIG [--epochs N] [--limit N] [--threads T] [--out DIR]
#                              [--variants LIST]
#
# Variants (LIST is comma-separated, default all four, in this order):
# "both" (the config as it is, augmentation and dropout), "no-augmentation"
# (its augment block removed, so no test-time flip either), "no-dropout"
# (its dropout layers removed), "neither" (both removed).
# Each variant's config, checkpoint, metrics and JSON summary are kept in
# DIR (default runs/ablation-NAME/). Needs bin/iotcnn (make) and python3
# (to edit the JSON). Same seed for every variant, so the table is
# reproducible with the same thread count.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    echo "usage: $0 CONFIG [--epochs N] [--limit N] [--threads T] [--out DIR] [--variants LIST]" >&2
    exit 2
}
[ $# -ge 1 ] || usage
config=$1; shift
[ -f "$config" ] || { echo "ablation: $config: no such file" >&2; exit 2; }
name=$(basename "$config" .json)
out="runs/ablation-$name"
extra=()
variants=both,no-augmentation,no-dropout,neither
while [ $# -gt 0 ]; do
    case "$1" in
    --epochs|--limit|--threads) [ $# -ge 2 ] || usage; extra+=("$1" "$2"); shift 2 ;;
    --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
    --variants) [ $# -ge 2 ] || usage; variants=$2; shift 2 ;;
    *) usage ;;
    esac
done
command -v python3 >/dev/null || { echo "ablation: python3 is needed to edit the config" >&2; exit 1; }
[ -x bin/iotcnn ] || { echo "ablation: bin/iotcnn is missing: run make" >&2; exit 1; }
mkdir -p "$out"

# variant NAME DROP_AUGMENT DROP_DROPOUT: writes $out/NAME.json
variant() {
    python3 - "$config" "$out/$1.json" "$2" "$3" <<'PY'
import json, sys
src, dst, no_aug, no_drop = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4] == "1"
c = json.load(open(src))
if no_aug:
    c.pop("augment", None)
if no_drop:
    layers = c["model"]["layers"]
    names = {l.get("name") for l in layers if l["type"] == "dropout"} - {None}
    if names:
        sys.exit("ablation: a dropout layer is referenced by name; remove it by hand")
    c["model"]["layers"] = [l for l in layers if l["type"] != "dropout"]
json.dump(c, open(dst, "w"), indent=2)
PY
}

printf '| variant | test accuracy | epochs | train time | command |\n|---|---|---|---|---|\n' \
    > "$out/table.md"
# flags NAME: "DROP_AUGMENT DROP_DROPOUT" of a variant
flags() {
    case "$1" in
    both) echo 0 0 ;;
    no-augmentation) echo 1 0 ;;
    no-dropout) echo 0 1 ;;
    neither) echo 1 1 ;;
    *) return 1 ;;
    esac
}
IFS=, read -r -a chosen <<< "$variants"
for name in "${chosen[@]}"; do
    flags "$name" > /dev/null || {
        echo "ablation: unknown variant '$name' (both, no-augmentation, no-dropout, neither)" >&2
        exit 2; }
done
for name in "${chosen[@]}"; do
    set -- "$name" $(flags "$name")
    variant "$1" "$2" "$3"
    echo "ablation: $1 ..." >&2
    bin/iotcnn train -c "$out/$1.json" -o "$out/$1.ckpt" --json "${extra[@]}" > "$out/$1.out"
    summary=$(tail -n 1 "$out/$1.out")
    acc=$(printf '%s' "$summary" | sed -n 's/.*"test_accuracy":\([0-9.eE+-]*\).*/\1/p')
    secs=$(printf '%s' "$summary" | sed -n 's/.*"train_seconds":\([0-9.eE+-]*\).*/\1/p')
    epochs=$(printf '%s' "$summary" | sed -n 's/.*"epochs":\([0-9]*\).*/\1/p')
    printf '| %s | %s%% | %s | %s min | `bin/iotcnn train -c %s %s` |\n' "$1" \
        "$(awk -v a="$acc" 'BEGIN { printf "%.2f", 100 * a }')" "$epochs" \
        "$(awk -v s="$secs" 'BEGIN { printf "%.1f", s / 60 }')" "$out/$1.json" "${extra[*]}" \
        >> "$out/table.md"
done
cat "$out/table.md"
