#!/bin/sh
# check_cycles.sh BUILD_DIR OBJ... - no circular dependency between the library's
# files, nor between its folders (ARCHITECTURE.md).
#
# A file depends on another when its object file uses a symbol the other
# defines (nm). tsort(1) finds the loops of that graph; then the same for
# the folders. check_layers.sh checks the #include side.
#   check_cycles.sh --self-test   must catch a planted two-file loop
# Exit status: 0 no loop, 1 a loop (printed), 2 usage.
set -eu
say() { printf 'check_cycles: %s\n' "$*"; }

# edges OBJ...: "user provider" lines, one per dependency between two objects
# (named by their path under the build dir, without .o).
edges() {
    for o in "$@"; do
        f=${o#"$root"/}; f=${f%.o}
        nm -g --defined-only "$o" | awk -v f="$f" 'NF == 3 && $2 ~ /[TDBRCV]/ { print "D", f, $3 }'
        nm -u "$o" | awk -v f="$f" '{ print "U", f, $NF }'
    done | awk '$1 == "D" { def[$3] = $2; next }
                { use[++n] = $2 " " $3 }
                END { for (i = 1; i <= n; i++) { split(use[i], a, " ")
                      if ((a[2] in def) && def[a[2]] != a[1]) print a[1], def[a[2]] } }' | sort -u
}

# loops NAME < EDGES: tsort's loop report, or nothing
loops() {
    out=$(tsort 2>&1 >/dev/null || true)
    [ -z "$out" ] || { say "circular dependency between $1:"; printf '%s\n' "$out" | sed 's/^/  /'; return 1; }
}

check() { # check ROOT OBJ...
    root=$1; shift
    e=$(edges "$@")
    rc=0
    printf '%s\n' "$e" | loops files || rc=1
    printf '%s\n' "$e" | awk '{ split($1, a, "/"); split($2, b, "/"); if (a[1] != b[1]) print a[1], b[1] }' |
        sort -u | loops folders || rc=1
    return $rc
}

if [ "${1:-}" = --self-test ]; then
    t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
    mkdir -p "$t/a" "$t/b"
    printf 'int b1(void);\nint a1(void) { return b1(); }\n' > "$t/a/x.c"
    printf 'int a1(void);\nint b1(void) { return 1; }\nint b2(void) { return a1(); }\n' > "$t/b/y.c"
    printf 'int a1(void);\nint a2(void) { return a1(); }\n' > "$t/a/z.c"
    for f in a/x b/y a/z; do cc -c -o "$t/$f.o" "$t/$f.c"; done
    if check "$t" "$t/a/x.o" "$t/b/y.o" "$t/a/z.o" >/dev/null; then
        say "self-test FAILED: the planted loop a/x -> b/y -> a/x was not reported"; exit 1
    fi
    check "$t" "$t/a/x.o" "$t/a/z.o" >/dev/null ||
        { say "self-test FAILED: a loop reported where there is none"; exit 1; }
    say "self-test: a planted file loop (and its folder loop) is caught"
    exit 0
fi

[ $# -ge 2 ] && [ -d "$1" ] || { echo "usage: check_cycles.sh BUILD_DIR OBJ... | --self-test" >&2; exit 2; }
dir=${1%/}; shift
check "$dir" "$@"
say "no circular dependency between the library's $# files or its folders"
