/* calib_main.c - the calibration of instruction counting: loops of known
 * length (subs + bne: 2 instructions per iteration) timed like an
 * inference. Prints one JSON line per length: n, the instructions the loop
 * executes (2n + the fixed cost of the call), and what the timer says;
 * device/calibrate.sh checks them. */
#include <stdint.h>

#include "fmt.h"
#include "semihost.h"
#include "timer.h"

static __attribute__((noinline)) void spin(uint32_t n)
{
    /* unified syntax: Thumb-1 (ARMv6-M) assembles subs only so */
    __asm__ volatile(".syntax unified\n1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
}

int main(void)
{
    static const uint32_t lens[] = {1000, 100000, 1000000, 10000000, 50000000};
    timer_start();
    uint64_t t0 = timer_ticks(), t1 = timer_ticks();
    const uint64_t overhead = t1 - t0;
    for (int i = 0; i < 5; i++) {
        t0 = timer_ticks();
        spin(lens[i]);
        t1 = timer_ticks();
        static fmt_buf b; /* static: off the small stack reserve */
        b.n = 0;
        fmt_str(&b, "{");
        fmt_kv_u(&b, "n", lens[i]);
        fmt_kv_u(&b, "loop_instructions", 2ull * lens[i]);
        fmt_kv_u(&b, "ticks", t1 - t0 - overhead);
        fmt_kv_u(&b, "measured_instructions", timer_insns(t1 - t0 - overhead));
        fmt_str(&b, "}\n");
        sh_write0(b.buf);
    }
    return 0;
}
