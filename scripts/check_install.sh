#!/bin/sh
# check_install.sh [BIN] - `make install` gives a library a C++ program can
# use: installs into a temporary prefix, builds tests/install/consumer.cpp
# with g++ and `pkg-config --cflags --libs iotcnn` (shared library) and
# again against libiotcnn.a (`pkg-config --static`), and checks that both
# report for the compatibility fixtures the numbers `iotcnn info --json`
# reports. BUILD and MPI name the build installed (make test passes its
# own). Exit status: 0 pass (or skip: no g++), 1 fail.
set -eu
say() { printf 'check_install: %s\n' "$*"; }
fail() { say "FAIL: $*"; [ -s "${tmp:-}/log" ] && sed 's/^/  | /' "$tmp/log"; exit 1; }
cd "$(dirname "$0")/.."
command -v g++ >/dev/null 2>&1 || { say "skip: no g++ (build-essential has it)"; exit 0; }
BUILD=${BUILD:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
make -s BUILD="$BUILD" MPI="${MPI:-}" PREFIX="$tmp/prefix" install >"$tmp/log" 2>&1 || fail "make install"
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
cflags=$(pkg-config --cflags iotcnn) && libs=$(pkg-config --libs iotcnn) ||
    fail "pkg-config does not know iotcnn"
# shellcheck disable=SC2086
g++ -std=c++17 -Wall -Wextra -Werror -o "$tmp/shared" tests/install/consumer.cpp $cflags $libs \
    >"$tmp/log" 2>&1 || fail "g++ against the shared library"
static_libs=$(pkg-config --static --libs iotcnn | sed 's/-liotcnn//')
# shellcheck disable=SC2086
g++ -std=c++17 -Wall -Wextra -Werror -o "$tmp/static" tests/install/consumer.cpp $cflags \
    "$tmp/prefix/lib/libiotcnn.a" $static_libs >"$tmp/log" 2>&1 || fail "g++ against libiotcnn.a"
ldd "$tmp/static" | grep -q libiotcnn && fail "the static build links libiotcnn.so"
for m in tests/compat/tiny.ckpt tests/compat/tiny.iotc; do
    json=$("$tmp/prefix/bin/iotcnn" info -m "$m" --json | tail -n 1)
    first() { printf '%s' "$json" | grep -o "\"$1\":[0-9]*" | head -n 1 | cut -d: -f2; }
    want="parameters $(first parameters) macs $(first macs)" # the top level's come first
    for kind in shared static; do
        got=$(LD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/$kind" "$m" 2>"$tmp/log") ||
            fail "$kind consumer on $m"
        case "$got" in
            "$want classes 10 first 0") ;;
            *) fail "$kind consumer on $m: '$got', iotcnn info says '$want' (and classes 0..9)" ;;
        esac
    done
done
say "a C++ program builds against the installed library (shared and static, pkg-config) and reports info's numbers"
