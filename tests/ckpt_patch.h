/* ckpt_patch.h - rewriting one value inside a .ckpt or .iotc file and
 * re-sealing its section (CRC32 recomputed), so the file is valid framing
 * around a bad value: what a user gets from a buggy exporter or a
 * diverged run, not a corrupt download. Both formats share the framing:
 * 16-byte header, then per section u32 tag, u64 length, payload, u32 CRC32
 * of tag, length and payload. */
#ifndef CKPT_PATCH_H
#define CKPT_PATCH_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "libnn/nn_io.h"

typedef struct {
    size_t hdr, off, len; /* header, payload offset, payload length */
} cp_section;

/* Section `tag` of the file bytes d (len), which must be there. */
static inline cp_section cp_find(const uint8_t *d, size_t len, const char *tag)
{
    size_t p = 16;
    while (p + 16 <= len) {
        uint64_t l = 0;
        for (int k = 7; k >= 0; k--)
            l = l << 8 | d[p + 4 + k];
        if (memcmp(d + p, tag, 4) == 0)
            return (cp_section){p, p + 12, (size_t)l};
        p += 16 + (size_t)l;
    }
    cr_assert_fail("no section %s", tag);
    return (cp_section){0, 0, 0};
}

/* Recomputes the CRC of the section starting at s.hdr. */
static inline void cp_reseal(uint8_t *d, cp_section s)
{
    uint32_t crc = nn_crc32(d + s.hdr, s.len + 12);
    for (int k = 0; k < 4; k++)
        d[s.off + s.len + k] = (uint8_t)(crc >> (8 * k));
}

/* Writes n bytes at payload offset `at` of section tag and reseals it;
 * returns the file offset written. */
static inline size_t cp_patch(uint8_t *d, size_t len, const char *tag, size_t at,
                              const void *bytes, size_t n)
{
    cp_section s = cp_find(d, len, tag);
    cr_assert_leq(at + n, s.len, "patch beyond section %s", tag);
    memcpy(d + s.off + at, bytes, n);
    cp_reseal(d, s);
    return s.off + at;
}

/* Payload offset of the only occurrence of (needle, n) in section tag. */
static inline size_t cp_locate(const uint8_t *d, size_t len, const char *tag, const void *needle,
                               size_t n)
{
    cp_section s = cp_find(d, len, tag);
    size_t found = SIZE_MAX;
    for (size_t p = 0; p + n <= s.len; p++)
        if (memcmp(d + s.off + p, needle, n) == 0) {
            cr_assert_eq(found, SIZE_MAX, "the bytes occur twice in section %s", tag);
            found = p;
        }
    cr_assert_neq(found, SIZE_MAX, "the bytes are not in section %s", tag);
    return found;
}

#endif
