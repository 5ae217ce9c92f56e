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

/* 64-bit division by shifts and subtraction: keeps libgcc's 64-bit divide
 * (700 bytes) out of the firmware, where the linker script would count it
 * with the runtime's code. */
static inline uint64_t fmt_div(uint64_t n, uint64_t d, uint64_t *rem)
{
    uint64_t q = 0, r = 0;
    for (int i = 63; i >= 0; i--) {
        r = r << 1 | ((n >> i) & 1);
        if (r >= d)
            r -= d, q |= (uint64_t)1 << i;
    }
    if (rem)
        *rem = r;
    return q;
}

static inline void fmt_u64(fmt_buf *b, uint64_t v)
{
    char t[24];
    int i = 0;
    do {
        uint64_t r;
        v = fmt_div(v, 10, &r);
        t[i++] = (char)('0' + r);
    } while (v != 0);
    while (i > 0 && b->n < (int)sizeof b->buf - 1)
        b->buf[b->n++] = t[--i];
    b->buf[b->n] = 0;
}

/* num / den with `digits` (< 19) decimals, rounded. */
static inline void fmt_ratio(fmt_buf *b, uint64_t num, uint64_t den, int digits)
{
    uint64_t scale = 1, f;
    for (int i = 0; i < digits; i++)
        scale *= 10;
    uint64_t q = den ? fmt_div(num * scale + den / 2, den, 0) : 0;
    fmt_u64(b, fmt_div(q, scale, &f));
    if (digits) {
        char t[20];
        for (int i = digits - 1; i >= 0; i--) {
            uint64_t r;
            f = fmt_div(f, 10, &r);
            t[i] = (char)('0' + r);
        }
        t[digits] = 0;
        fmt_str(b, ".");
        fmt_str(b, t);
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
