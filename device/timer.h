/* timer.h - SysTick at the processor clock, counting its 24-bit wraps in
 * the SysTick exception, read as one 64-bit tick count. These are not
 * cycles: under -icount they count guest instructions (board.h). */
#ifndef TIMER_H
#define TIMER_H

#include <stdint.h>

void timer_start(void);
uint64_t timer_ticks(void);
/* Instructions in a window of ticks (board.h's fraction, rounded). */
uint64_t timer_insns(uint64_t ticks);

#endif
