/* fz_util.h - what the libFuzzer targets in fuzz/ share.
 *
 * - fz_data: a cursor that turns the fuzz input into choices. Reads past the
 *   end give zeros, so every input, even an empty one, is a complete run of
 *   the generator; the choices a byte makes stay put when later bytes change.
 * - Input splitting: a target that needs several files reads them as parts,
 *   each but the last preceded by its length (u16, little-endian).
 * - CRC repair: the checkpoint / .iotc framing and PNG chunks carry CRC-32s
 *   that random mutations almost never get right. A target whose control
 *   byte asks for it recomputes them, so the mutated payloads reach the
 *   decoders behind the checks; with the bit clear, the checks themselves are
 *   fuzzed.
 * - Files: loaders that take paths read memfd files (no disk, nothing left
 *   behind) or, for folder scanning, a private folder under /dev/shm.
 * - IOTCNN_FUZZ_DUMP=DIR makes every target also write the exact bytes it
 *   hands to the library into DIR (after CRC repair and gzip), so a crash
 *   found here can be replayed with bin/iotcnn (docs/reliability.md).
 * Targets abort() when a check of their own fails; libFuzzer reports it as a
 * crash with the input that caused it. */
#ifndef FZ_UTIL_H
#define FZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const uint8_t *p;
    size_t n, pos;
} fz_data;

void fz_init(fz_data *d, const uint8_t *p, size_t n);
uint8_t fz_u8(fz_data *d);
uint16_t fz_u16(fz_data *d);
uint32_t fz_u32(fz_data *d);
/* A value in [lo, hi] (hi - lo < 2^32), from as few bytes as the range needs. */
int64_t fz_range(fz_data *d, int64_t lo, int64_t hi);
/* 1 with probability about num/256. */
int fz_chance(fz_data *d, int num);
/* Bytes left. */
size_t fz_left(const fz_data *d);

/* Splits data into at most max_parts parts as described above; returns how
 * many (>= 1; the last takes the rest, possibly empty). */
int fz_split(const uint8_t *data, size_t n, int max_parts, const uint8_t **part, size_t *len);

/* Recomputes the CRC of every section of a checkpoint / .iotc image
 * (16-byte header; tag, u64 length, payload, CRC) that lies inside buf. */
void fz_fix_frame_crcs(uint8_t *buf, size_t n);
/* The same for the chunks of a PNG (8-byte signature; u32 BE length, type,
 * data, CRC over type and data). */
void fz_fix_png_crcs(uint8_t *buf, size_t n);

/* The entry point of a target for a framed format (input: a control byte,
 * then the file): check(buf, n, ctrl) on a copy of the file (n bytes) with
 * its section CRCs recomputed when control bit 0 of ctrl is set, dumped as
 * dump_name (fz_dump); nothing for an empty input. Returns 0. */
int fz_framed_run(const uint8_t *data, size_t size, const char *dump_name,
                  void (*check)(const uint8_t *buf, size_t n, uint8_t ctrl));

/* gzip (RFC 1952) of data into a new allocation; NULL on failure. */
uint8_t *fz_gzip(const uint8_t *data, size_t n, size_t *out_len);

/* A memfd file whose contents are replaced by each fz_memfile_set; its
 * path (/proc/self/fd/N) can be opened like any file. */
typedef struct {
    int fd;
    char path[40];
} fz_memfile;
void fz_memfile_open(fz_memfile *f); /* aborts when memfd is unavailable */
void fz_memfile_set(fz_memfile *f, const void *data, size_t n);

/* A private folder for this process (under /dev/shm, else $TMPDIR or
 * /tmp), removed with its contents at exit. */
const char *fz_private_dir(void);
/* Writes path (created or truncated); aborts on failure. */
void fz_write_file(const char *path, const void *data, size_t n);
/* Removes a folder tree (the private folder's contents between runs). */
void fz_rmtree(const char *path);

/* With IOTCNN_FUZZ_DUMP set, writes data to $IOTCNN_FUZZ_DUMP/name. */
void fz_dump(const char *name, const void *data, size_t n);

/* abort() with a message on stderr: a target's own check failed. */
void fz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
