/* ktest_main.c - the on-device kernel test: runs every case of kt.bin
 * (device/ktestgen.c: random models of every op and weight format,
 * extreme quantization) with the runtime built for this core (its DSP
 * kernel bodies on M4/M7/M33/M55) and compares each output byte with the
 * host engine's. Prints one JSON line; exit status 0 when all match. */
#include <stdint.h>
#include <string.h>

#include "fmt.h"
#include "rt.h"
#include "semihost.h"

static uint8_t image[64 * 1024] __attribute__((aligned(8)));
static uint8_t arena[120 * 1024] __attribute__((aligned(8)));
static uint8_t inputs[16 * 1024];
static int8_t expected[4096], logits[4096];

static int rd32(int fd, uint32_t *v) { return sh_read(fd, v, 4); }

int main(void)
{
    int fd = sh_open("kt.bin", 1);
    uint32_t n = 0;
    if (fd < 0 || rd32(fd, &n) != 0)
        return 2;
    uint32_t cases = 0, outputs = 0, bad = 0, first_bad = 0xffffffffu, failed_check = 0;
    for (uint32_t c = 0; c < n; c++) {
        uint32_t ib, in, k, ni;
        if (rd32(fd, &ib) || rd32(fd, &in) || rd32(fd, &k) || rd32(fd, &ni) || ib > sizeof image ||
            in * ni > sizeof inputs || k * ni > sizeof expected)
            return 3;
        if (sh_read(fd, image, (ib + 7) & ~7u) || sh_read(fd, inputs, (in * ni + 3) & ~3u) ||
            sh_read(fd, expected, (k * ni + 3) & ~3u))
            return 4;
        rt_info info;
        if (rt_image_check(image, ib, &info) != RT_OK || info.arena_bytes > sizeof arena) {
            failed_check++;
            continue;
        }
        for (uint32_t i = 0; i < ni; i++) {
            memset(arena, (int)(0x5a + i), info.arena_bytes);
            if (rt_run(image, arena, sizeof arena, inputs + i * in, logits) != RT_OK ||
                memcmp(logits, expected + i * k, k) != 0) {
                bad++;
                if (first_bad == 0xffffffffu)
                    first_bad = c;
            }
            outputs += k;
        }
        cases++;
    }
    static fmt_buf b; /* static: off the small stack reserve */
    b.n = 0;
    fmt_str(&b, "{");
    fmt_kv_u(&b, "cases", cases);
    fmt_kv_u(&b, "output_values", outputs);
    fmt_kv_u(&b, "mismatching_runs", bad);
    fmt_kv_u(&b, "check_failures", failed_check);
    if (bad)
        fmt_kv_u(&b, "first_bad_case", first_bad);
    fmt_key(&b, "identical"), fmt_str(&b, bad == 0 && failed_check == 0 ? "true" : "false");
    fmt_str(&b, "}\n");
    sh_write0(b.buf);
    return bad || failed_check;
}
