# fuzz/common.sh - what smoke.sh and campaign.sh share (sourced, POSIX sh).
# Every run is bounded per input: -timeout (seconds; a slower input is a
# reported bug), -rss_limit_mb (the process), -malloc_limit_mb (one
# allocation: a forged length that asks for more is a reported bug); leaks
# are reported (LeakSanitizer, on by default with ASan) and UBSan stops at
# the first report (-fno-sanitize-recover=all at build time).

FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
# fuzz/fuzz_NAME.c is target NAME
all_targets() {
    for f in fuzz/fuzz_*.c; do
        b=${f#fuzz/fuzz_}
        printf '%s ' "${b%.c}"
    done
}
FUZZ_TARGETS=${FUZZ_TARGETS:-$(all_targets)}
FUZZ_TIMEOUT=${FUZZ_TIMEOUT:-10}
FUZZ_RSS_MB=${FUZZ_RSS_MB:-2048}
FUZZ_MALLOC_MB=${FUZZ_MALLOC_MB:-320}

export ASAN_OPTIONS="detect_leaks=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:${UBSAN_OPTIONS:-}"

# Largest input a target mutates to: room above its seeds (CIFAR-10 records
# are 3073 bytes, checkpoints a few KB).
fuzz_max_len() {
    case $1 in
    cifar | ckpt | iotc) echo 16384 ;;
    config | pngdir) echo 8192 ;;
    *) echo 4096 ;;
    esac
}

# The libFuzzer flags of target $1, artifacts (crash-*, leak-*, timeout-*,
# oom-*) written with prefix $2.
fuzz_flags() {
    printf -- '-rss_limit_mb=%s -malloc_limit_mb=%s -timeout=%s -max_len=%s -artifact_prefix=%s' \
        "$FUZZ_RSS_MB" "$FUZZ_MALLOC_MB" "$FUZZ_TIMEOUT" "$(fuzz_max_len "$1")" "$2"
    [ -f "fuzz/dict/$1.dict" ] && printf -- ' -dict=fuzz/dict/%s.dict' "$1"
    printf '\n'
}

# stat::KEY of libFuzzer's -print_final_stats output in file $2.
fuzz_stat() {
    sed -n "s/^stat::$1: *\([0-9.]*\).*/\1/p" "$2" | tail -n 1
}

# The fingerprint of the sources the targets are built from: every tracked C
# source and header outside tests/, bench/ and device/, the Makefile, and the
# fuzzing compiler's version (campaign.sh prints it to name the sources).
# Files are hashed as they are in the working tree.
fuzz_code_id() {
    {
        ${FUZZ_CC:-clang-14} --version 2>/dev/null | head -n 1
        git ls-files -- '*.c' '*.h' Makefile ':!tests/' ':!bench/' ':!device/' | LC_ALL=C sort |
            while read -r f; do
                printf '%s\n' "$f"
                cat "$f"
            done
    } | sha256sum | cut -c1-16
}

# The fingerprint of a target's executable $1 (campaign.sh's ledger counts
# executions per fingerprint). The fuzz build is reproducible (no dates or
# random build IDs; the same paths), so equal bytes mean the same machine
# code, sanitizer checks and coverage points: exactly the code that ran.
fuzz_bin_id() {
    sha256sum "$1" | cut -c1-16
}
