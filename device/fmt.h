/* fmt.h - a tiny JSON line builder for the firmware (no printf). */
#ifndef FMT_H
#define FMT_H

#include <stdint.h>

typedef struct {
    char buf[1536];
    int n;
} fmt_buf;

static inline void fmt_str(fmt_buf *b, const char *s)
{
    while (*s && b->n < (int)sizeof b->buf - 1)
        b->buf[b->n++] = *s++;
    b->buf[b->n] = 0;
}

static inline void fmt_u64(fmt_buf *b, uint64_t v)
{
    char t[24];
    int i = 0;
    do
        t[i++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (i > 0 && b->n < (int)sizeof b->buf - 1)
        b->buf[b->n++] = t[--i];
    b->buf[b->n] = 0;
}

/* num / den with `digits` decimals, rounded. */
static inline void fmt_ratio(fmt_buf *b, uint64_t num, uint64_t den, int digits)
{
    uint64_t scale = 1;
    for (int i = 0; i < digits; i++)
        scale *= 10;
    uint64_t q = den ? (num * scale + den / 2) / den : 0;
    fmt_u64(b, q / scale);
    if (digits) {
        fmt_str(b, ".");
        uint64_t f = q % scale;
        for (uint64_t s = scale / 10; s > 0; s /= 10)
            fmt_u64(b, f / s % 10);
    }
}

static inline void fmt_key(fmt_buf *b, const char *k)
{
    fmt_str(b, b->n > 1 ? ",\"" : "\"");
    fmt_str(b, k);
    fmt_str(b, "\":");
}

static inline void fmt_kv_u(fmt_buf *b, const char *k, uint64_t v) { fmt_key(b, k), fmt_u64(b, v); }
static inline void fmt_kv_s(fmt_buf *b, const char *k, const char *v)
{
    fmt_key(b, k), fmt_str(b, "\""), fmt_str(b, v), fmt_str(b, "\"");
}

#endif
