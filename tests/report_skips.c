/* report_skips.c - names every skipped test, and counts them, in the
 * run's output. Criterion 2.4's summary line leaves skipped tests out of
 * "Tested" without saying so, and prints [SKIP] lines only with --verbose;
 * these report hooks (run in the runner process) print, before it:
 *     [SKIP] rt_host::pools: this CPU lacks avx512-vnni: ...
 *     [====] Skipped: 15 tests (listed above)
 * Tests left out by --filter are not counted. */
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <stdio.h>

static size_t skipped;

ReportHook(POST_TEST)(struct criterion_test_stats *st)
{
    if (st->test_status != CR_STATUS_SKIPPED)
        return;
    skipped++;
    fprintf(stderr, "[SKIP] %s::%s: %s\n", st->test->category, st->test->name,
            st->message ? st->message : "skipped");
}

ReportHook(POST_ALL)(struct criterion_global_stats *st)
{
    (void)st;
    if (skipped)
        fprintf(stderr, "[====] Skipped: %zu test%s (listed above)\n", skipped,
                skipped == 1 ? "" : "s");
}
