#!/bin/sh
# leak_gate.sh TEST_BINARY [ARGS...] - runs the Criterion suite under
# LeakSanitizer and fails when a leak report involves iotcnn's code.
#
# Why a gate: Criterion runs each test in a worker process and judges it by
# what the worker reports, not by its exit status, so a leak that LSan finds
# when a worker exits is printed but does not fail the suite. And Criterion
# 2.4's runner process itself sometimes leaves one 48-byte allocation of its
# own (all of whose frames lie in libcriterion), which no suppression can
# name without also hiding the leaks of every test (their stacks pass
# through libcriterion too). So LSan's own exit code is turned off here, and
# each report is read: it fails the run when one of its frames is a source
# line of this tree (tests/, libnn/, ...). The suite's own status (failed or
# crashed tests) is kept.
set -u
log=$(mktemp "${TMPDIR:-/tmp}/iotcnn-leaks.XXXXXX") || exit 1
trap 'rm -f "$log"' EXIT
LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}exitcode=0" "$@" 2>&1 | tee "$log"
status=$?
# POSIX sh has no pipefail: the suite's status is re-read from its summary.
grep -q 'Failing: 0 | Crashing: 0' "$log" || status=1
ours=$(awk '
    /^(Direct|Indirect) leak of/ { inleak = 1; head = $0; next }
    inleak && /^ *#[0-9]+ / {
        if ($0 ~ /(^|[ \/])(tests|libnn|format|prune|quantize|config|cmd|datasets|augment|runtime|export|pipeline|fuzz)\/[^ ]*\.[ch]:[0-9]+/)
            { print head; inleak = 0 }
        next }
    { inleak = 0 }' "$log")
if [ -n "$ours" ]; then
    echo "leak_gate: LeakSanitizer found leaks in iotcnn code (reports above):" >&2
    printf '%s\n' "$ours" >&2
    exit 1
fi
exit "$status"
