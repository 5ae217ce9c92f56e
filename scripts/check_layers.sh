#!/bin/sh
# scripts/check_layers.sh - the layering of ARCHITECTURE.md, checked on
# every #include of the tree's C files (run by `make test`).
#
#   scripts/check_layers.sh [DIR]    check the tree at DIR (default: this
#                                    repository); exit 1 on any violation
#   scripts/check_layers.sh --self-test
#                                    plant one violation of each kind in a
#                                    scratch tree and fail unless each is
#                                    reported (and a clean tree passes)
#
# The rules:
#   - no #include "../...": a header of another folder is named from the
#     repository root ("libnn/nn_model.h", found through the Makefile's
#     -iquote $(CURDIR)); a header of the same folder by its bare name;
#   - in the library folders a bare name must be a file of that folder (no
#     hidden -I path);
#   - a folder includes only from the folders below it (allowed(), next);
#     nothing includes from cmd/, tests/, fuzz/, bench/ or device/, and
#     only those include from pipeline/;
#   - runtime/ includes nothing but its own files and freestanding headers,
#     so `iotcnn export` can copy it into any firmware folder;
#   - no exit() or abort() in the library folders (their programs under
#     */tools/ aside): a library returns a status, only cmd/ exits;
#   - every folder holding C files has a line in allowed(): a new folder
#     must say where it sits.
set -eu

LIB="libnn datasets augment format prune quantize config export runtime pipeline"

# The folders FOLDER may include from, besides itself ("?" unknown folder).
allowed() {
    case $1 in
    runtime | libnn) echo "" ;;
    datasets | augment | format | prune) echo "libnn" ;;
    quantize) echo "libnn format" ;;
    config) echo "libnn augment format prune quantize" ;;
    export) echo "libnn format runtime" ;;
    pipeline) echo "libnn datasets augment format prune quantize config export runtime" ;;
    cmd | tests | fuzz | bench | device) echo "$LIB" ;;
    *) echo "?" ;;
    esac
}

# Checks the tree in the current directory; prints each violation as
# FILE:LINE: message and returns the number found (capped at 255).
check_tree() {
    files=$(find . -path ./.git -prune -o -path ./data -prune -o -path './build*' -prune \
        -o -path ./bin -prune -o -type f \( -name '*.c' -o -name '*.h' \) -print | sed 's#^\./##' | sort)
    bad=0
    for f in $files; do
        case $f in */*) ;; *) continue ;; esac # top-level C files: none today
        top=${f%%/*} dir=${f%/*}
        ok=$(allowed "$top")
        if [ "$ok" = "?" ]; then
            echo "$f: folder $top/ is not in scripts/check_layers.sh's allowed(): say what it may include"
            bad=$((bad + 1))
            continue
        fi
        out=$(awk -v f="$f" -v top="$top" -v dir="$dir" -v ok=" $ok " -v lib=" $LIB " '
            function fail(msg) { print f ":" FNR ": " msg; n++ }
            /^[ \t]*#[ \t]*include[ \t]*"/ {
                inc = $0; sub(/^[^"]*"/, "", inc); sub(/".*$/, "", inc)
                if (inc ~ /(^|\/)\.\.?\//) { fail("#include \"" inc "\" climbs: name it from the repository root"); next }
                if (inc ~ /\//) {
                    t = inc; sub(/\/.*$/, "", t)
                    if (t == top) next
                    if (top == "runtime") fail("runtime/ includes only its own files (it is copied alone into firmware): \"" inc "\"")
                    else if (index(ok, " " t " ") == 0) fail(top "/ may not include from " t "/ (\"" inc "\"; see ARCHITECTURE.md)")
                    else if ((getline line < inc) < 0) fail("\"" inc "\" does not exist"); else close(inc)
                    next
                }
                if (index(lib, " " top " ") || top == "cmd")
                    if ((getline line < (dir "/" inc)) < 0) fail("\"" inc "\" is not a file of " dir "/: name it from the repository root"); else close(dir "/" inc)
                next
            }
            index(lib, " " top " ") && dir !~ /\/tools$/ && /(^|[^A-Za-z0-9_.>])(exit|_Exit|quick_exit|abort)[ \t]*\(/ {
                fail("a library calls exit or abort: return an nn_status, only cmd/ exits")
            }
            top == "runtime" && /^[ \t]*#[ \t]*include[ \t]*</ {
                h = $0; sub(/^[^<]*</, "", h); sub(/>.*$/, "", h)
                if (h !~ /^(stddef|stdint|stdbool|string|limits|float|immintrin|arm_acle|arm_mve)\.h$/)
                    fail("runtime/ includes <" h ">: only freestanding headers (the device has no libc)")
            }
            END { exit n > 255 ? 255 : n }' "$f") || true
        if [ -n "$out" ]; then
            echo "$out"
            bad=$((bad + $(echo "$out" | wc -l)))
        fi
    done
    return $((bad > 255 ? 255 : bad))
}

self_test() {
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    cd "$scratch"
    mkdir libnn runtime config cmd quantize format pipeline
    echo '#include "nn_model.h"' >libnn/nn_x.c
    touch libnn/nn_model.h format/qmodel.h cmd/cli.h runtime/rt.h
    printf '#include "rt.h"\n#include <stdint.h>\n' >runtime/rt_x.c
    echo '#include "format/qmodel.h"' >quantize/qz_x.c
    echo '#include "libnn/nn_model.h"' >config/cfg_x.c
    printf '#include "config/cfg.h"\n#include "pl_x.h"\n' >pipeline/pl_x.c
    touch config/cfg.h pipeline/pl_x.h
    echo '#include "pipeline/pl_x.h"' >cmd/cmd_x.c
    check_tree >/dev/null || { echo "check_layers self-test: a clean tree fails"; exit 1; }
    # One violation of each kind; each must be reported by its own file.
    echo '#include "cmd/cli.h"' >libnn/nn_up.c
    echo '#include "libnn/nn_model.h"' >runtime/rt_up.c
    echo '#include <stdio.h>' >runtime/rt_libc.c
    echo '#include "cmd/cli.h"' >config/cfg_up.c
    echo '#include "../libnn/nn_model.h"' >cmd/cmd_climb.c
    echo '#include "nn_model.h"' >quantize/qz_bare.c
    echo '#include "pipeline/pl_x.h"' >config/cfg_pl.c
    printf 'void pl_die(void)\n{\n    exit(1);\n}\n' >pipeline/pl_exit.c
    mkdir newfolder && touch newfolder/x.c
    out=$(check_tree) && { echo "check_layers self-test: planted violations pass"; exit 1; }
    for f in libnn/nn_up.c runtime/rt_up.c runtime/rt_libc.c config/cfg_up.c cmd/cmd_climb.c \
        quantize/qz_bare.c config/cfg_pl.c pipeline/pl_exit.c newfolder/x.c; do
        echo "$out" | grep -q "^$f" || {
            echo "check_layers self-test: the violation planted in $f is not reported"
            exit 1
        }
    done
    echo "check_layers self-test: 9 planted violations reported, a clean tree passes"
}

if [ "${1:-}" = "--self-test" ]; then
    self_test
    exit 0
fi
cd "${1:-$(dirname "$0")/..}"
if check_tree; then
    echo "check_layers: every #include follows ARCHITECTURE.md's layering"
else
    echo "check_layers: violations of ARCHITECTURE.md's layering (above)"
    exit 1
fi
