/* timer.c - SysTick: reload 2^24 - 1, processor clock, interrupt on wrap. */
#include "timer.h"

#include "board.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define RELOAD 0xFFFFFFu

static volatile uint32_t wraps; /* the harness's, not the runtime's */

void SysTick_Handler(void);
void SysTick_Handler(void) { wraps++; }

void timer_start(void)
{
    SYST_CSR = 0;
    SYST_RVR = RELOAD;
    SYST_CVR = 0;
    wraps = 0;
    SYST_CSR = 7; /* enable, interrupt, processor clock */
    /* the counter holds 0 until its first reload (seen on the v8-M model): a
     * read before that would look like a full period */
    while (SYST_CVR == 0)
        ;
}

#define ICSR (*(volatile uint32_t *)0xE000ED04u)
#define PENDSTSET (1u << 26)

uint64_t timer_ticks(void)
{
    uint32_t w, v, pend;
    do { /* the handler ran between the reads: read again */
        w = wraps;
        v = SYST_CVR;
        pend = ICSR & PENDSTSET;
    } while (w != wraps);
    if (pend && v > RELOAD / 2) /* wrapped, handler not run yet */
        w++;
    return (uint64_t)w * (RELOAD + 1u) + (RELOAD - v);
}

uint64_t timer_insns(uint64_t ticks)
{
    return (ticks * BOARD_INSN_NUM + BOARD_INSN_DEN / 2) / BOARD_INSN_DEN;
}
