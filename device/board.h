/* board.h - what the harness knows about each emulated board: the SysTick
 * clock (device-notes: every guest instruction advances virtual time by
 * 2^ICOUNT_SHIFT ns under -icount, so one tick of an f Hz clock is
 * 1e9 / (f * 2^shift) instructions), as the exact fraction NUM / DEN. */
#ifndef BOARD_H
#define BOARD_H

#include <stdint.h>

#define ICOUNT_SHIFT 3

#if defined(BOARD_MPS2_AN386) || defined(BOARD_MPS2_AN500)
#define BOARD_CLOCK_HZ 25000000u /* 5 instructions per tick  */
#define BOARD_INSN_NUM 5u
#define BOARD_INSN_DEN 1u
#elif defined(BOARD_MPS2_AN505)
#define BOARD_CLOCK_HZ 20000000u /* 6.25 instructions per tick */
#define BOARD_INSN_NUM 25u
#define BOARD_INSN_DEN 4u
#elif defined(BOARD_MICROBIT)
/* nRF51 (Cortex-M0): SysTick at the 16 MHz HCLK, 7.8125 instructions per tick */
#define BOARD_CLOCK_HZ 16000000u
#define BOARD_INSN_NUM 125u
#define BOARD_INSN_DEN 16u
#define BOARD_SMALL_RAM 1 /* 16 KB: the harness keeps no per-image arrays */
#elif defined(BOARD_MPS3_AN547)
#define BOARD_CLOCK_HZ 32000000u /* 3.90625 instructions per tick */
#define BOARD_INSN_NUM 125u
#define BOARD_INSN_DEN 32u
#else
#error "define BOARD_MPS2_AN386, BOARD_MPS2_AN500, BOARD_MPS2_AN505, BOARD_MPS3_AN547 or BOARD_MICROBIT"
#endif

#endif
