#!/bin/sh
# check_docs.sh - the Markdown of the repository reads right: every code
# fence is closed, and every relative link names a file or folder that
# exists inside the repository (not outside it, not a typo).
#   check_docs.sh --self-test   must catch a planted open fence and bad links
# Exit status: 0 clean, 1 a problem (each printed with file and line).
set -eu
say() { printf 'check_docs: %s\n' "$*"; }

# check ROOT FILE...: prints the problems, returns 1 if any
check() {
    root=$(cd "$1" && pwd); shift
    bad=0
    for f in "$@"; do
        fences=$(grep -c '^[[:space:]]*```' "$f" || true)
        if [ $((fences % 2)) -ne 0 ]; then
            say "$f: a code fence (\`\`\`) is not closed ($fences fences)"; bad=1
        fi
        dir=$(dirname "$f")
        # [text](target) outside code spans is close enough: targets with a
        # scheme or a bare #anchor are not files. The loop runs in a pipe:
        # messages go to stderr, an x per problem to grep.
        grep -n -o '\](\([^)#[:space:]]*\)[^)]*)' "$f" 2>/dev/null | while IFS= read -r hit; do
            line=${hit%%:*}
            target=$(printf '%s' "${hit#*:}" | sed 's/^](//; s/[#)].*$//; s/[[:space:]].*$//')
            case "$target" in ''|*://*|mailto:*) continue ;; esac
            full=$(cd "$dir" 2>/dev/null && realpath -m "$target")
            case "$full" in
                "$root"|"$root"/*) [ -e "$full" ] || { say "$f:$line: link to $target: no such file" >&2; echo x; } ;;
                *) say "$f:$line: link to $target leaves the repository" >&2; echo x ;;
            esac
        done | grep -q x && bad=1
    done
    return $bad
}

if [ "${1:-}" = --self-test ]; then
    t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
    mkdir -p "$t/docs"
    printf '# ok\n```sh\nmake\n```\n[a](docs/b.md) [web](https://x.org) [here](#top)\n' > "$t/a.md"
    printf 'see [a](../a.md#x)\n' > "$t/docs/b.md"
    check "$t" "$t/a.md" "$t/docs/b.md" >/dev/null 2>&1 ||
        { say "self-test FAILED: a clean tree was reported"; exit 1; }
    printf '```json\n{}\n' > "$t/open.md"
    printf '[s](../../shared/STYLE.md)\n' > "$t/out.md"
    printf '[m](docs/missing.md)\n' > "$t/miss.md"
    for f in open out miss; do
        if check "$t" "$t/$f.md" >/dev/null 2>&1; then
            say "self-test FAILED: $f.md was not reported"; exit 1
        fi
    done
    say "self-test: an open fence, a link out of the repository and a missing file are caught"
    exit 0
fi

cd "$(dirname "$0")/.."
files=$(git ls-files '*.md' 2>/dev/null || find . -name '*.md' -not -path './build*')
# shellcheck disable=SC2086
check . $files
say "$(printf '%s\n' $files | wc -l) Markdown files: fences closed, relative links inside the repository and present"
