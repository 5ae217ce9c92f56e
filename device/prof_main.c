/* prof_main.c - instructions per op of the exported model on a few test
 * images (the runtime built with RT_OP_HOOK pointing here); one JSON line
 * per op. For tuning, not for the reported figures (the hook costs a few
 * instructions per op). */
#include <stdint.h>

#include "fmt.h"
#include "model.h"
#include "rt.h"
#include "semihost.h"
#include "timer.h"

static uint8_t arena[MODEL_ARENA_BYTES] __attribute__((aligned(8), section(".arena")));
static uint8_t pixels[MODEL_INPUT_BYTES];
static int8_t logits[MODEL_NUM_CLASSES];
static uint64_t last, per_op[260];
static int cur = -1;

void prof_hook(unsigned i);
void prof_hook(unsigned i)
{
    uint64_t t = timer_ticks();
    if (cur >= 0)
        per_op[cur] += t - last;
    cur = (int)i;
    last = timer_ticks();
}

int main(void)
{
    if (rt_image_check(model_image, MODEL_IMAGE_BYTES, 0) != RT_OK)
        return 2;
    int fd = sh_open("images.bin", 1);
    long len = sh_flen(fd);
    int n = (int)(len / MODEL_INPUT_BYTES);
    if (n > 5)
        n = 5;
    timer_start();
    for (int i = 0; i < n; i++) {
        sh_read(fd, pixels, sizeof pixels);
        cur = -1;
        rt_run(model_image, arena, sizeof arena, pixels, logits);
    }
    const uint8_t *im = model_image;
    unsigned n_ops = im[22] | im[23] << 8;
    const uint8_t *ops = im + (im[36] | im[37] << 8 | im[38] << 16 | (uint32_t)im[39] << 24);
    for (unsigned i = 0; i < n_ops; i++) {
        static fmt_buf b; /* static: off the small stack reserve */
        b.n = 0;
        fmt_str(&b, "{");
        fmt_kv_u(&b, "op", i);
        fmt_kv_u(&b, "type", ops[64 * i]);
        fmt_kv_u(&b, "format", ops[64 * i + 1]);
        fmt_kv_u(&b, "instructions", timer_insns(per_op[i] / (uint64_t)n));
        fmt_str(&b, "}\n");
        sh_write0(b.buf);
    }
    return 0;
}
