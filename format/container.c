/* container.c - writing and scanning the section/CRC framing (container.h). */
#include "container.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- write --------------------------------------------------------------- */

void ctr_put_header(nn_wbuf *w, const ctr_format *fmt, uint32_t n_sections)
{
    nn_wbuf_bytes(w, fmt->magic, sizeof fmt->magic);
    nn_wbuf_u32(w, fmt->version);
    nn_wbuf_u32(w, n_sections);
}

size_t ctr_section_begin(nn_wbuf *w, const char *tag)
{
    nn_wbuf_bytes(w, tag, 4);
    nn_wbuf_u64(w, 0); /* length, patched by ctr_section_end */
    return w->len;
}

void ctr_section_end(nn_wbuf *w, size_t payload_at, ctr_section *s)
{
    if (w->failed)
        return;
    size_t n = w->len - payload_at;
    nn_wbuf_set_u64(w, payload_at - 8, (uint64_t)n);
    nn_wbuf_u32(w, nn_crc32(w->data + payload_at - 12, n + 12));
    if (s) {
        memcpy(s->tag, w->data + payload_at - 12, 4);
        s->tag[4] = '\0';
        s->offset = payload_at - 12;
        s->bytes = n + CTR_SECTION_OVERHEAD;
    }
}

nn_status ctr_write_file(const char *path, const nn_wbuf *w, nn_error *err)
{
    nn_status st = nn_wbuf_status(w, path, err);
    if (st == NN_OK)
        st = nn_write_file_atomic(path, w->data, w->len, err);
    return st;
}

/* ---- read ---------------------------------------------------------------- */

/* Tags are four of [A-Z0-9]: anything else is corruption, not a future tag. */
static int tag_valid(const uint8_t *tag)
{
    for (int k = 0; k < 4; k++)
        if (!((tag[k] >= 'A' && tag[k] <= 'Z') || (tag[k] >= '0' && tag[k] <= '9')))
            return 0;
    return 1;
}

/* Magic, version and section count; *count receives the latter. */
static nn_status scan_header(nn_rbuf *r, const ctr_format *fmt, int max_secs, uint32_t *count,
                             nn_error *err)
{
    const uint8_t *data = r->data;
    size_t len = r->len;
    const char *hint = fmt->magic_hint ? fmt->magic_hint(r->path ? r->path : "", data, len) : NULL;
    if (len < CTR_HEADER_BYTES && (len < 8 || memcmp(data, fmt->magic, 8) != 0))
        return nn_rbuf_errorf(r, 0, err, NN_ERR_FORMAT,
                              "%zu bytes is too short for a %s header (%u bytes)%s%s", len,
                              fmt->name, CTR_HEADER_BYTES, hint ? "; " : "", hint ? hint : "");
    const uint8_t *magic;
    nn_status st = nn_rbuf_view(r, &magic, 8, "magic", err);
    if (st != NN_OK)
        return st;
    if (memcmp(magic, fmt->magic, 8) != 0)
        return nn_rbuf_errorf(r, 0, err, NN_ERR_FORMAT, "bad magic (expected \"%.8s\")%s%s",
                              fmt->magic, hint ? ": " : "", hint ? hint : "");
    uint32_t version;
    if ((st = nn_rbuf_u32(r, &version, "version", err)) != NN_OK)
        return st;
    if (version != fmt->version)
        return nn_rbuf_errorf(
            r, 8, err, NN_ERR_FORMAT, "%s version %lu, this build reads version %lu: %s", fmt->name,
            (unsigned long)version, (unsigned long)fmt->version,
            version > fmt->version ? "it was written by a newer iotcnn; upgrade to read it"
                                   : fmt->old_hint);
    if ((st = nn_rbuf_u32(r, count, "section count", err)) != NN_OK)
        return st;
    if ((uint64_t)*count * CTR_SECTION_OVERHEAD > nn_rbuf_left(r) || *count > (uint32_t)max_secs)
        return nn_rbuf_errorf(r, 12, err, NN_ERR_FORMAT,
                              "%lu sections cannot fit in the %zu bytes that follow (at most %d; "
                              "truncated or corrupt file)",
                              (unsigned long)*count, nn_rbuf_left(r), max_secs);
    return NN_OK;
}

/* One section at r's position: tag, length, payload, CRC; fills *s. r->what
 * becomes what (48 bytes): "section N", then "section TAG". */
static nn_status scan_section(nn_rbuf *r, uint32_t index, ctr_section *s, char *what, nn_error *err)
{
    uint64_t hdr = nn_rbuf_offset(r);
    snprintf(what, 48, "section %lu", (unsigned long)index);
    r->what = what;
    const uint8_t *tag;
    nn_status st = nn_rbuf_view(r, &tag, 4, "section tag", err);
    if (st != NN_OK)
        return st;
    if (!tag_valid(tag))
        return nn_rbuf_errorf(r, hdr, err, NN_ERR_FORMAT,
                              "invalid section tag %02x %02x %02x %02x (corrupt file)", tag[0],
                              tag[1], tag[2], tag[3]);
    snprintf(what, 48, "section %.4s", (const char *)tag);
    uint64_t plen;
    if ((st = nn_rbuf_u64(r, &plen, "section length", err)) != NN_OK)
        return st;
    /* The payload and its CRC must fit in what is left. */
    if (nn_rbuf_left(r) < 4 || plen > nn_rbuf_left(r) - 4)
        return nn_rbuf_errorf(r, hdr + 4, err, NN_ERR_FORMAT,
                              "length %llu exceeds the %zu bytes left for payload and CRC "
                              "(truncated or corrupt file)",
                              (unsigned long long)plen,
                              nn_rbuf_left(r) >= 4 ? nn_rbuf_left(r) - 4 : 0);
    uint64_t poff = nn_rbuf_offset(r);
    (void)nn_rbuf_skip(r, (size_t)plen, "payload", err); /* fits: checked above */
    uint32_t crc;
    if ((st = nn_rbuf_u32(r, &crc, "CRC32", err)) != NN_OK)
        return st;
    uint32_t got = nn_crc32(tag, (size_t)plen + 12); /* tag, length, payload */
    if (crc != got)
        return nn_rbuf_errorf(r, poff + plen, err, NN_ERR_FORMAT,
                              "CRC32 mismatch (stored %08lx, computed %08lx over the section "
                              "header and %llu payload bytes at offset %llu): the file is "
                              "corrupt",
                              (unsigned long)crc, (unsigned long)got, (unsigned long long)plen,
                              (unsigned long long)poff);
    memcpy(s->tag, tag, 4);
    s->tag[4] = '\0';
    s->offset = hdr;
    s->bytes = plen + CTR_SECTION_OVERHEAD;
    return NN_OK;
}

nn_status ctr_scan(const uint8_t *data, size_t len, const char *path, const ctr_format *fmt,
                   ctr_section *secs, int max_secs, int *n_secs, nn_error *err)
{
    *n_secs = 0;
    nn_rbuf r;
    nn_rbuf_init(&r, data, len, 0, path, "header");
    uint32_t count;
    char what[48];
    nn_status st = scan_header(&r, fmt, max_secs, &count, err);
    for (uint32_t s = 0; st == NN_OK && s < count; s++) {
        ctr_section *sec = &secs[*n_secs];
        if ((st = scan_section(&r, s, sec, what, err)) != NN_OK)
            break;
        const ctr_section *first = ctr_find(secs, *n_secs, sec->tag);
        if (first)
            return nn_rbuf_errorf(&r, sec->offset, err, NN_ERR_FORMAT,
                                  "duplicate section (the first is at offset %llu)",
                                  (unsigned long long)first->offset);
        (*n_secs)++;
    }
    if (st != NN_OK)
        return st;
    r.what = "end of file";
    if (nn_rbuf_left(&r) != 0)
        return nn_rbuf_errorf(&r, nn_rbuf_offset(&r), err, NN_ERR_FORMAT,
                              "%zu trailing bytes after the last of %lu sections (corrupt file)",
                              nn_rbuf_left(&r), (unsigned long)count);
    return NN_OK;
}

const ctr_section *ctr_find(const ctr_section *secs, int n, const char *tag)
{
    for (int s = 0; s < n; s++)
        if (strcmp(secs[s].tag, tag) == 0)
            return &secs[s];
    return NULL;
}

void ctr_open(nn_rbuf *r, const uint8_t *data, const ctr_section *s, const char *path, char *what,
              size_t what_size)
{
    snprintf(what, what_size, "section %s", s->tag);
    uint64_t off = ctr_payload_offset(s);
    nn_rbuf_init(r, data + off, (size_t)ctr_payload_bytes(s), off, path, what);
}

nn_status ctr_missing(const char *path, size_t len, const char *tag, nn_error *err)
{
    return nn_errorf(err, NN_ERR_FORMAT,
                     "%s: section %s: offset %zu (end of file): required section is missing",
                     path ? path : "(buffer)", tag, len);
}

nn_status ctr_end_of_payload(const nn_rbuf *r, nn_error *err)
{
    if (nn_rbuf_left(r) == 0)
        return NN_OK;
    return nn_rbuf_errorf(r, nn_rbuf_offset(r), err, NN_ERR_FORMAT,
                          "%zu unexpected bytes at the end of the section", nn_rbuf_left(r));
}

nn_status ctr_load(void *obj, ctr_decode_fn decode, const char *path, size_t max_bytes,
                   nn_error *err)
{
    uint8_t *data;
    size_t len;
    nn_status st = nn_read_file(path, &data, &len, max_bytes, err);
    if (st != NN_OK)
        return st;
    st = decode(obj, data, len, path, err);
    free(data);
    return st;
}
