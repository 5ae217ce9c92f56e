/* rcoder.c - binary range coder (see rcoder.h). */
#include "rcoder.h"

#define TOP (1u << 24)

void rc_enc_init(rc_encoder *e, nn_wbuf *out) { *e = (rc_encoder){out, 0, 0xFFFFFFFFu, 0, 1}; }

/* Moves the top byte of low out, resolving a pending carry. */
static void shift_low(rc_encoder *e)
{
    if ((uint32_t)e->low < 0xFF000000u || (e->low >> 32) != 0) {
        uint8_t carry = (uint8_t)(e->low >> 32);
        uint8_t b = e->cache;
        do {
            nn_wbuf_u8(e->out, (uint8_t)(b + carry));
            b = 0xFF;
        } while (--e->pending != 0);
        e->cache = (uint8_t)(e->low >> 24);
    }
    e->pending++;
    e->low = (e->low & 0x00FFFFFFu) << 8;
}

void rc_enc_bit(rc_encoder *e, rc_model *m, int bit)
{
    uint32_t bound = (e->range >> 16) * rc_p0(m);
    if (!bit) {
        e->range = bound;
    } else {
        e->low += bound;
        e->range -= bound;
    }
    rc_update(m, bit);
    while (e->range < TOP) {
        e->range <<= 8;
        shift_low(e);
    }
}

void rc_enc_flush(rc_encoder *e)
{
    for (int i = 0; i < 5; i++)
        shift_low(e);
}

static uint8_t next_byte(rc_decoder *d)
{
    if (d->pos < d->len)
        return d->p[d->pos++];
    d->overrun = 1;
    return 0;
}

int rc_dec_init(rc_decoder *d, const uint8_t *p, size_t len)
{
    *d = (rc_decoder){p, len, 0, 0xFFFFFFFFu, 0, 0};
    if (len < 5 || p[0] != 0)
        return 0;
    for (int i = 0; i < 5; i++)
        d->code = (d->code << 8) | next_byte(d);
    return 1;
}

int rc_dec_bit(rc_decoder *d, rc_model *m)
{
    uint32_t bound = (d->range >> 16) * rc_p0(m);
    int bit;
    if (d->code < bound) {
        d->range = bound;
        bit = 0;
    } else {
        d->code -= bound;
        d->range -= bound;
        bit = 1;
    }
    rc_update(m, bit);
    while (d->range < TOP) {
        d->range <<= 8;
        d->code = (d->code << 8) | next_byte(d);
    }
    return bit;
}
