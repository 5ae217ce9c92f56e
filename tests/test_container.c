/* test_container.c - the section/CRC container (format/container.h) on its
 * own: what the writer lays out, what the scanner accepts and how it names
 * what it refuses. The formats built on it are tested in test_checkpoint.c
 * and test_iotc.c. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "format/container.h"

static const ctr_format FMT = {"TESTFMT1", 3, "test file", "an old test file", NULL};

/* Header, then sections AAAA (3 bytes) and BBB1 (empty). */
static void two_sections(nn_wbuf *w, ctr_section s[2])
{
    nn_wbuf_init(w);
    ctr_put_header(w, &FMT, 2);
    size_t at = ctr_section_begin(w, "AAAA");
    nn_wbuf_bytes(w, "xyz", 3);
    ctr_section_end(w, at, &s[0]);
    at = ctr_section_begin(w, "BBB1");
    ctr_section_end(w, at, &s[1]);
}

Test(container, writes_what_it_scans)
{
    nn_wbuf w;
    ctr_section wrote[2], got[4];
    two_sections(&w, wrote);
    cr_assert_eq(w.len, 16 + (16 + 3) + 16);
    cr_expect(memcmp(w.data, "TESTFMT1\3\0\0\0\2\0\0\0AAAA\3\0\0\0\0\0\0\0xyz", 31) == 0);
    cr_expect_eq(wrote[0].offset, 16);
    cr_expect_eq(wrote[1].offset, 35);
    int n;
    nn_error err;
    cr_assert_eq(ctr_scan(w.data, w.len, "t.bin", &FMT, got, 4, &n, &err), NN_OK, "%s", err.msg);
    cr_assert_eq(n, 2);
    for (int k = 0; k < 2; k++)
        cr_expect(strcmp(got[k].tag, wrote[k].tag) == 0 && got[k].offset == wrote[k].offset &&
                  got[k].bytes == wrote[k].bytes);
    const ctr_section *a = ctr_find(got, n, "AAAA");
    cr_assert_not_null(a);
    cr_expect_null(ctr_find(got, n, "CCCC"));
    nn_rbuf r;
    char what[16];
    ctr_open(&r, w.data, a, "t.bin", what, sizeof what);
    cr_expect_eq(r.len, 3);
    cr_expect_eq(nn_rbuf_offset(&r), 28);
    cr_expect_eq(ctr_end_of_payload(&r, &err), NN_ERR_FORMAT);
    cr_expect_str_eq(err.msg, "t.bin: section AAAA: offset 28: 3 unexpected bytes at the end of "
                              "the section");
    cr_expect_eq(ctr_missing("t.bin", w.len, "CCCC", &err), NN_ERR_FORMAT);
    cr_expect_str_eq(err.msg, "t.bin: section CCCC: offset 51 (end of file): required section "
                              "is missing");
    nn_wbuf_free(&w);
}

/* Each refusal names the part and the offset. */
Test(container, refusals_name_part_and_offset)
{
    nn_wbuf w;
    ctr_section s[2], got[4];
    two_sections(&w, s);
    uint8_t *d = malloc(w.len + 1);
    int n;
    nn_error err;
    struct {
        size_t at;       /* byte to change (SIZE_MAX: none)  */
        uint8_t v;
        size_t len;      /* bytes given                      */
        int max;
        const char *msg; /* the whole message                */
    } cases[] = {
        {0, 'X', 51, 4, "t.bin: header: offset 0: bad magic (expected \"TESTFMT1\")"},
        {SIZE_MAX, 0, 7, 4, "t.bin: header: offset 0: 7 bytes is too short for a test file header "
                            "(16 bytes)"},
        {SIZE_MAX, 0, 9, 4, "t.bin: header: offset 8: truncated: version needs 4 bytes, 1 left"},
        {8, 4, 51, 4, "t.bin: header: offset 8: test file version 4, this build reads version 3: "
                      "it was written by a newer iotcnn; upgrade to read it"},
        {8, 2, 51, 4, "t.bin: header: offset 8: test file version 2, this build reads version 3: "
                      "an old test file"},
        {SIZE_MAX, 0, 51, 1, "t.bin: header: offset 12: 2 sections cannot fit in the 35 bytes that "
                             "follow (at most 1; truncated or corrupt file)"},
        {16, 'a', 51, 4, "t.bin: section 0: offset 16: invalid section tag 61 41 41 41 (corrupt "
                         "file)"},
        {20, 100, 51, 4, "t.bin: section AAAA: offset 20: length 100 exceeds the 19 bytes left for "
                         "payload and CRC (truncated or corrupt file)"},
        {SIZE_MAX, 0, 50, 4, "t.bin: section BBB1: offset 39: length 0 exceeds the 0 bytes left for "
                             "payload and CRC (truncated or corrupt file)"},
        {SIZE_MAX, 0, 52, 4, "t.bin: end of file: offset 51: 1 trailing bytes after the last of 2 "
                             "sections (corrupt file)"},
        {35, 'A', 51, 4, NULL}, /* BBB1 -> ABB1: its CRC no longer matches */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        memcpy(d, w.data, w.len);
        d[w.len] = 0;
        if (cases[k].at != SIZE_MAX)
            d[cases[k].at] = cases[k].v;
        cr_expect_eq(ctr_scan(d, cases[k].len, "t.bin", &FMT, got, cases[k].max, &n, &err),
                     NN_ERR_FORMAT, "case %zu", k);
        if (cases[k].msg)
            cr_expect_str_eq(err.msg, cases[k].msg, "case %zu", k);
        else
            cr_expect(strstr(err.msg, "t.bin: section ABB1: offset 47: CRC32 mismatch"), "%s",
                      err.msg);
    }
    /* the same tag twice */
    memcpy(d, w.data, w.len);
    memcpy(d + 35, "AAAA", 4);
    uint32_t crc = nn_crc32(d + 35, 12);
    memcpy(d + 47, (uint8_t[]){crc, crc >> 8, crc >> 16, crc >> 24}, 4);
    cr_expect_eq(ctr_scan(d, w.len, "t.bin", &FMT, got, 4, &n, &err), NN_ERR_FORMAT);
    cr_expect_str_eq(err.msg, "t.bin: section AAAA: offset 35: duplicate section (the first is at "
                              "offset 16)");
    free(d);
    nn_wbuf_free(&w);
}
