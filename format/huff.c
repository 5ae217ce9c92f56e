/* huff.c - canonical Huffman codes (see huff.h). */
#include "huff.h"

#include <string.h>

/* Code lengths of a plain Huffman tree over the symbols with freq > 0
 * (O(n^2) merging; n <= 256). Ties pick the lower node index, so the result
 * depends only on the counts. */
static int tree_lengths(uint8_t *len, const uint64_t *freq, int nsym)
{
    uint64_t w[2 * HUFF_MAX_SYMS];
    int parent[2 * HUFF_MAX_SYMS], alive[2 * HUFF_MAX_SYMS];
    int sym_node[HUFF_MAX_SYMS];
    int nodes = 0;
    for (int s = 0; s < nsym; s++) {
        sym_node[s] = -1;
        len[s] = 0;
        if (freq[s] > 0) {
            sym_node[s] = nodes;
            w[nodes] = freq[s];
            parent[nodes] = -1;
            alive[nodes] = 1;
            nodes++;
        }
    }
    int leaves = nodes;
    if (leaves == 1) {
        for (int s = 0; s < nsym; s++)
            if (sym_node[s] >= 0)
                len[s] = 1;
        return 1;
    }
    for (int merges = 0; merges < leaves - 1; merges++) {
        int a = -1, b = -1;
        for (int i = 0; i < nodes; i++) {
            if (!alive[i])
                continue;
            if (a < 0 || w[i] < w[a]) {
                b = a;
                a = i;
            } else if (b < 0 || w[i] < w[b]) {
                b = i;
            }
        }
        alive[a] = alive[b] = 0;
        w[nodes] = w[a] + w[b];
        parent[nodes] = -1;
        alive[nodes] = 1;
        parent[a] = parent[b] = nodes;
        nodes++;
    }
    int maxlen = 0;
    for (int s = 0; s < nsym; s++) {
        if (sym_node[s] < 0)
            continue;
        int d = 0;
        for (int n = sym_node[s]; parent[n] >= 0; n = parent[n])
            d++;
        len[s] = (uint8_t)(d > 255 ? 255 : d);
        if (d > maxlen)
            maxlen = d;
    }
    return maxlen;
}

static void assign_codes(huff_code *c)
{
    uint16_t count[HUFF_MAX_LEN + 1] = {0}, next[HUFF_MAX_LEN + 2];
    for (int s = 0; s < c->nsym; s++)
        count[c->len[s]]++;
    count[0] = 0;
    uint32_t code = 0;
    for (int l = 1; l <= HUFF_MAX_LEN; l++) {
        code = (code + count[l - 1]) << 1;
        next[l] = (uint16_t)code;
    }
    for (int s = 0; s < c->nsym; s++)
        c->code[s] = c->len[s] ? next[c->len[s]]++ : 0;
}

void huff_build(huff_code *c, const uint64_t *freq, int nsym)
{
    memset(c, 0, sizeof *c);
    c->nsym = nsym;
    uint64_t f[HUFF_MAX_SYMS];
    memcpy(f, freq, (size_t)nsym * sizeof *f);
    /* Too deep a tree: flatten the counts (keeping every symbol) and
     * rebuild. Each round halves the ratio of the largest to the smallest
     * count, so this ends after a few rounds. */
    while (tree_lengths(c->len, f, nsym) > HUFF_MAX_LEN)
        for (int s = 0; s < nsym; s++)
            if (f[s])
                f[s] = (f[s] >> 1) | 1u;
    assign_codes(c);
}

uint64_t huff_data_bits(const huff_code *c, const uint64_t *freq)
{
    uint64_t bits = 0;
    for (int s = 0; s < c->nsym; s++)
        bits += freq[s] * c->len[s];
    return bits;
}

static void used_range(const huff_code *c, int *lo, int *n)
{
    int a = 0, b = c->nsym - 1;
    while (a < c->nsym && c->len[a] == 0)
        a++;
    while (b > a && c->len[b] == 0)
        b--;
    *lo = a;
    *n = a < c->nsym ? b - a + 1 : 0;
}

static size_t uvar_bytes(uint64_t v)
{
    size_t n = 1;
    while (v >>= 7)
        n++;
    return n;
}

size_t huff_table_bytes(const huff_code *c)
{
    int lo, n;
    used_range(c, &lo, &n);
    return uvar_bytes((uint64_t)lo) + uvar_bytes((uint64_t)n) + (size_t)(n + 1) / 2;
}

void huff_write_table(nn_wbuf *w, const huff_code *c)
{
    int lo, n;
    used_range(c, &lo, &n);
    qio_put_uvar(w, (uint64_t)lo);
    qio_put_uvar(w, (uint64_t)n);
    for (int i = 0; i < n; i += 2) {
        uint8_t b = c->len[lo + i];
        if (i + 1 < n)
            b |= (uint8_t)(c->len[lo + i + 1] << 4);
        nn_wbuf_u8(w, b);
    }
}

nn_status huff_decoder_init(huff_decoder *d, const uint8_t *len, int nsym)
{
    memset(d, 0, sizeof *d);
    if (nsym < 1 || nsym > HUFF_MAX_SYMS)
        return NN_ERR_FORMAT;
    d->nsym = nsym;
    int used = 0;
    for (int s = 0; s < nsym; s++) {
        if (len[s] > HUFF_MAX_LEN)
            return NN_ERR_FORMAT;
        if (len[s]) {
            d->count[len[s]]++;
            used++;
        }
    }
    /* Kraft sum in units of 2^-HUFF_MAX_LEN. */
    uint32_t kraft = 0;
    for (int l = 1; l <= HUFF_MAX_LEN; l++)
        kraft += (uint32_t)d->count[l] << (HUFF_MAX_LEN - l);
    int single = used == 1 && d->count[1] == 1;
    if (used == 0 || (kraft != (1u << HUFF_MAX_LEN) && !single))
        return NN_ERR_FORMAT;
    /* Symbols sorted by (length, symbol): canonical order. */
    uint16_t start[HUFF_MAX_LEN + 2] = {0};
    for (int l = 1; l <= HUFF_MAX_LEN; l++)
        start[l + 1] = (uint16_t)(start[l] + d->count[l]);
    for (int s = 0; s < nsym; s++)
        if (len[s])
            d->symbol[start[len[s]]++] = (uint16_t)s;
    return NN_OK;
}

nn_status huff_read_table(nn_rbuf *r, huff_decoder *d, int nsym, const char *what, nn_error *err)
{
    uint64_t off = nn_rbuf_offset(r), lo, n;
    nn_status st = qio_get_uvar(r, &lo, (uint64_t)nsym - 1, "Huffman table start", err);
    if (st == NN_OK)
        st = qio_get_uvar(r, &n, (uint64_t)nsym - lo, "Huffman table size", err);
    if (st != NN_OK)
        return st;
    if (n == 0)
        return nn_rbuf_errorf(r, off, err, NN_ERR_FORMAT, "%s: empty Huffman table", what);
    uint8_t len[HUFF_MAX_SYMS] = {0};
    const uint8_t *p;
    uint64_t toff = nn_rbuf_offset(r);
    st = nn_rbuf_view(r, &p, (size_t)(n + 1) / 2, "Huffman code lengths", err);
    if (st != NN_OK)
        return st;
    for (uint64_t i = 0; i < n; i++)
        len[lo + i] = (uint8_t)((p[i / 2] >> (4 * (i & 1))) & 0x0f);
    if ((n & 1) && (p[n / 2] >> 4) != 0)
        return nn_rbuf_errorf(r, toff + n / 2, err, NN_ERR_FORMAT,
                              "%s: non-zero padding in the Huffman table", what);
    if (huff_decoder_init(d, len, nsym) != NN_OK)
        return nn_rbuf_errorf(r, off, err, NN_ERR_FORMAT,
                              "%s: the code lengths do not form a complete prefix code", what);
    return NN_OK;
}

int huff_get(const huff_decoder *d, qio_bitr *b)
{
    int code = 0, first = 0, index = 0;
    for (int l = 1; l <= HUFF_MAX_LEN; l++) {
        uint32_t bit;
        if (!qio_get_bits(b, 1, &bit))
            return -1;
        code |= (int)bit;
        int count = d->count[l];
        if (code - first < count)
            return d->symbol[index + (code - first)];
        index += count;
        first = (first + count) << 1;
        code <<= 1;
    }
    return -1;
}
