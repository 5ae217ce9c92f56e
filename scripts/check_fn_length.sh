#!/bin/sh
# scripts/check_fn_length.sh - cmd/ is arguments and printing only, so no
# function in it grows long: every function of cmd/*.c is at most MAX (80)
# lines, counted from the line of its opening brace to the line of its
# closing one (the house style puts both at column 0). Run by `make test`.
#
#   scripts/check_fn_length.sh [DIR]      check DIR/cmd/*.c (default: this
#                                         repository); exit 1 on a longer one
#   scripts/check_fn_length.sh --self-test
#                                         plant an 81-line function and an
#                                         80-line one in a scratch tree: only
#                                         the first must be reported
#   scripts/check_fn_length.sh --report   the longest function of cmd/
set -eu

MAX=80

# Prints FILE:LINE: NAME is N lines for every function longer than max;
# with max 0, the longest one only ("FILE:LINE: NAME N").
scan() {
    awk -v max="$1" '
        /^[A-Za-z_].*\(/ && !/;[ \t]*$/ { name = $0; sub(/\(.*/, "", name); sub(/.*[ \t*]/, "", name) }
        /^\{/ { start = FNR; fn = name }
        /^\}/ && start {
            n = FNR - start + 1
            if (max > 0 && n > max) { print FILENAME ":" start ": " fn " is " n " lines (at most " max ")"; bad++ }
            if (n > best) { best = n; where = FILENAME ":" start ": " fn " " n }
            start = 0
        }
        END { if (max == 0) print where; exit bad > 0 }' "$2"/cmd/*.c
}

self_test() {
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    mkdir "$scratch/cmd"
    {
        printf 'static int long_one(void)\n{\n'
        i=0; while [ $i -lt 79 ]; do echo '    x++;'; i=$((i + 1)); done
        printf '}\n\nstatic int short_one(void)\n{\n'
        i=0; while [ $i -lt 78 ]; do echo '    x++;'; i=$((i + 1)); done
        printf '}\n'
    } >"$scratch/cmd/planted.c"
    out=$(scan $MAX "$scratch") && { echo "check_fn_length self-test: an 81-line function passes"; exit 1; }
    echo "$out" | grep -q "long_one is 81 lines" || { echo "check_fn_length self-test: long_one not reported: $out"; exit 1; }
    echo "$out" | grep -q "short_one" && { echo "check_fn_length self-test: an 80-line function is reported"; exit 1; }
    echo "check_fn_length self-test: a planted 81-line function is reported, an 80-line one is not"
}

case "${1:-}" in
--self-test) self_test; exit 0 ;;
--report) scan 0 "${2:-$(dirname "$0")/..}"; exit 0 ;;
esac
dir=${1:-$(dirname "$0")/..}
if scan $MAX "$dir"; then
    echo "check_fn_length: every function of cmd/ is at most $MAX lines (longest: $(scan 0 "$dir" | sed 's/.*: //'))"
else
    echo "check_fn_length: cmd/ functions longer than $MAX lines (above): move the work to pipeline/"
    exit 1
fi
