#include "pl_progress.h"

#include <stdarg.h>
#include <stdio.h>

void pl_emit(const pl_progress *p, const pl_event *ev)
{
    if (p && p->fn)
        p->fn(p->user, ev);
}

void pl_note(const pl_progress *p, const char *stage, const char *fmt, ...)
{
    if (!p || !p->fn)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    pl_emit(p, &(pl_event){PL_EV_NOTE, stage, NULL, NULL, line});
}
