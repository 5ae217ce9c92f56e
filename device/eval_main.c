/* eval_main.c - the device-eval firmware: runs the exported model (linked
 * in flash as model_image) on test images read from the host through
 * semihosting, compares every image's logits with the host engine's bytes,
 * counts instructions around each rt_run (SysTick under -icount), measures
 * the peak stack of one inference by painting, and prints one JSON line.
 *
 * Host files (in QEMU's working directory, written by devprep):
 *   images.bin    N images, raw uint8 (C, H, W)
 *   labels.bin    N labels, one byte each
 *   expected.bin  N x num_classes int8 logits of the host int8 engine
 *   meta.txt      "target model host_correct" (one line, spaces)  */
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "fmt.h"
#include "model.h"
#include "rt.h"
#include "semihost.h"
#include "timer.h"

#define MAX_IMAGES 10000
#define PAINT 0xA5A5A5A5u

static uint8_t arena[MODEL_ARENA_BYTES] __attribute__((aligned(8), section(".arena")));
static uint8_t pixels[MODEL_INPUT_BYTES];
static int8_t logits[MODEL_NUM_CLASSES], expected[MODEL_NUM_CLASSES];
static char meta[512];
static fmt_buf line; /* static: off the stack reserve (1 KB on 16 KB boards) */

#ifdef BOARD_SMALL_RAM
/* No room for MAX_IMAGES counts: a histogram of each inference's ticks
 * around the first image's (+-HIST/2 ticks), from which the median is
 * exact while it lies inside (else the firmware fails, saying so). */
#define HIST 2048
static uint16_t hist[HIST];
static uint32_t under, over;
#else
static uint32_t insns[MAX_IMAGES];
#endif

extern uint32_t __stack_limit[], __rt_flash_start[], __rt_flash_end[], __rt_ram_start[],
    __rt_static_end[];

static _Noreturn void fail(const char *what, const char *detail)
{
    fmt_buf *b = &line;
    b->n = 0;
    fmt_str(b, "{");
    fmt_kv_s(b, "error", what);
    fmt_kv_s(b, "detail", detail);
    fmt_str(b, "}\n");
    sh_write0(b->buf);
    sh_exit(2);
}

static int open_file(const char *name, long *len)
{
    int fd = sh_open(name, 1);
    if (fd < 0)
        fail("cannot open host file", name);
    *len = sh_flen(fd);
    return fd;
}

/* Paints the stack below the caller's frame; returns the SP it saw. */
static __attribute__((noinline)) uintptr_t paint_stack(void)
{
    uintptr_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *p = __stack_limit; (uintptr_t)p < sp - 64; p++)
        *p = PAINT;
    return sp;
}

static uintptr_t lowest_touched(void)
{
    uint32_t *p = __stack_limit;
    while (*p == PAINT)
        p++;
    return (uintptr_t)p;
}

#ifdef BOARD_SMALL_RAM
/* The instructions of the k-th smallest tick count (0-based). */
static uint64_t hist_kth(uint64_t base, uint32_t k)
{
    if (k < under)
        fail("instruction histogram", "the median is below the histogram's range");
    k -= under;
    for (uint32_t i = 0; i < HIST; i++) {
        if (k < hist[i])
            return timer_insns(base + i - HIST / 2);
        k -= hist[i];
    }
    fail("instruction histogram", "the median is above the histogram's range");
}
#else
static void sort_u32(uint32_t *a, int n) /* shell sort: n <= 10000 */
{
    static const int gaps[] = {4193, 1750, 701, 301, 132, 57, 23, 10, 4, 1};
    for (int gi = 0; gi < 10; gi++)
        for (int i = gaps[gi]; i < n; i++) {
            uint32_t v = a[i];
            int j = i;
            for (; j >= gaps[gi] && a[j - gaps[gi]] > v; j -= gaps[gi])
                a[j] = a[j - gaps[gi]];
            a[j] = v;
        }
}
#endif

/* Word w of meta.txt (0-based), copied into dst. */
static void meta_word(int w, char *dst, int n)
{
    const char *p = meta;
    for (int i = 0; i < w; i++) {
        while (*p && *p != ' ')
            p++;
        while (*p == ' ')
            p++;
    }
    int k = 0;
    while (*p && *p != ' ' && *p != '\n' && k < n - 1)
        dst[k++] = *p++;
    dst[k] = 0;
}

int main(void)
{
    rt_info info;
    timer_start();
    uint64_t c0 = timer_ticks();
    rt_status st = rt_image_check(model_image, MODEL_IMAGE_BYTES, &info);
    uint64_t check_ticks = timer_ticks() - c0;
    if (st != RT_OK)
        fail("rt_image_check", rt_status_str(st));

    long len, n_lab, n_exp;
    int fm = open_file("meta.txt", &len);
    if (len <= 0 || len >= (long)sizeof meta || sh_read(fm, meta, (size_t)len) != 0)
        fail("cannot read", "meta.txt");
    sh_close(fm);
    int fi = open_file("images.bin", &len);
    int fl = open_file("labels.bin", &n_lab);
    int fe = open_file("expected.bin", &n_exp);
    int n = (int)n_lab;
    if (n < 1 || n > MAX_IMAGES || len != (long)n * MODEL_INPUT_BYTES ||
        n_exp != (long)n * MODEL_NUM_CLASSES)
        fail("host files disagree", "images.bin / labels.bin / expected.bin sizes");

    /* the cost of the measurement itself: two timer reads */
    uint64_t t0 = timer_ticks(), t1 = timer_ticks();
    const uint64_t overhead = t1 - t0;

    int correct = 0, mismatches = 0, first_mismatch = -1;
    uintptr_t stack = 0;
    uint64_t total = 0, ins_min = ~0ull, ins_max = 0;
#ifdef BOARD_SMALL_RAM
    uint64_t base = 0;
#endif
    for (int i = 0; i < n; i++) {
        uint8_t label;
        if (sh_read(fi, pixels, sizeof pixels) != 0 || sh_read(fl, &label, 1) != 0 ||
            sh_read(fe, expected, sizeof expected) != 0)
            fail("short read", "images.bin / labels.bin / expected.bin");
        uintptr_t sp = i == 0 ? paint_stack() : 0;
        t0 = timer_ticks();
        st = rt_run(model_image, arena, sizeof arena, pixels, logits);
        t1 = timer_ticks();
        if (st != RT_OK)
            fail("rt_run", rt_status_str(st));
        if (i == 0)
            stack = sp - lowest_touched();
        const uint64_t ticks = t1 - t0 - overhead, ins = timer_insns(ticks);
#ifdef BOARD_SMALL_RAM
        if (i == 0)
            base = ticks;
        if (ticks + HIST / 2 < base)
            under++;
        else if (ticks + HIST / 2 - base >= HIST)
            over++;
        else
            hist[ticks + HIST / 2 - base]++;
#else
        insns[i] = ins > 0xffffffffu ? 0xffffffffu : (uint32_t)ins;
#endif
        total += ins;
        ins_min = ins < ins_min ? ins : ins_min;
        ins_max = ins > ins_max ? ins : ins_max;
        if (memcmp(logits, expected, sizeof logits) != 0) {
            mismatches++;
            if (first_mismatch < 0)
                first_mismatch = i;
        }
        int best = 0;
        for (int k = 1; k < MODEL_NUM_CLASSES; k++)
            if (logits[k] > logits[best])
                best = k;
        correct += best == label;
    }
#ifdef BOARD_SMALL_RAM
    const uint32_t median =
        (uint32_t)((n % 2) ? hist_kth(base, (uint32_t)n / 2)
                           : (hist_kth(base, (uint32_t)n / 2 - 1) + hist_kth(base, (uint32_t)n / 2)) / 2);
#else
    sort_u32(insns, n);
    const uint32_t median = (n % 2) ? insns[n / 2] : (uint32_t)(((uint64_t)insns[n / 2 - 1] + insns[n / 2]) / 2);
#endif

    char target[64], model[256], host[32];
    meta_word(0, target, sizeof target);
    meta_word(1, model, sizeof model);
    meta_word(2, host, sizeof host);
    uint32_t host_correct = 0;
    for (const char *p = host; *p >= '0' && *p <= '9'; p++)
        host_correct = host_correct * 10 + (uint32_t)(*p - '0');

    const uint32_t flash = (uint32_t)((uintptr_t)__rt_flash_end - (uintptr_t)__rt_flash_start);
    const uint32_t rt_static = (uint32_t)((uintptr_t)__rt_static_end - (uintptr_t)__rt_ram_start) -
                               (uint32_t)sizeof arena;
    fmt_buf *b = &line;
    b->n = 0;
    fmt_str(b, "{");
    fmt_kv_s(b, "target", target);
    fmt_kv_s(b, "model", model);
    fmt_kv_u(b, "images", (uint64_t)n);
    fmt_key(b, "accuracy"), fmt_ratio(b, (uint64_t)correct, (uint64_t)n, 4);
    fmt_key(b, "host_accuracy"), fmt_ratio(b, host_correct, (uint64_t)n, 4);
    fmt_key(b, "identical"), fmt_str(b, mismatches == 0 ? "true" : "false");
    fmt_kv_u(b, "mismatches", (uint64_t)mismatches);
    if (first_mismatch >= 0)
        fmt_kv_u(b, "first_mismatch", (uint64_t)first_mismatch);
    fmt_kv_u(b, "instructions_per_image", median);
    fmt_kv_u(b, "instructions_max", ins_max);
    fmt_kv_u(b, "instructions_min", ins_min);
    fmt_kv_u(b, "instructions_mean", fmt_div(total, (uint64_t)n, 0));
    fmt_kv_u(b, "flash_bytes", flash);
    fmt_kv_u(b, "ram_bytes", sizeof arena + rt_static + stack);
    fmt_kv_u(b, "arena_bytes", sizeof arena);
    fmt_kv_u(b, "stack_bytes", stack);
    fmt_kv_u(b, "runtime_static_bytes", rt_static);
    fmt_kv_u(b, "model_image_bytes", MODEL_IMAGE_BYTES);
    fmt_kv_u(b, "code_bytes", flash - MODEL_IMAGE_BYTES);
    fmt_kv_u(b, "macs", info.macs);
    fmt_kv_u(b, "nonzero_macs", info.nonzero_macs);
    fmt_key(b, "instructions_per_nonzero_mac"), fmt_ratio(b, median, info.nonzero_macs, 3);
    fmt_kv_u(b, "check_instructions", timer_insns(check_ticks));
    fmt_str(b, "}\n");
    sh_write0(b->buf);
    return mismatches == 0 ? 0 : 1;
}
