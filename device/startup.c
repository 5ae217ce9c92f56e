/* startup.c - vector table and reset for the emulated boards: no vendor
 * SDK. Copies .data, zeroes .bss, allows the FPU/MVE coprocessors (the
 * runtime uses none; newlib's helpers on M55 might), calls main and exits
 * QEMU through semihosting with main's return value. */
#include <stdint.h>

#include "semihost.h"

extern uint32_t __stack_top[], __data_load[], __data_start[], __data_end[], __bss_start[],
    __bss_end[];
int main(void);
void Reset_Handler(void);
void Fault_Handler(void);
void SysTick_Handler(void);

void Reset_Handler(void)
{
#if !defined(__ARM_ARCH_6M__) /* ARMv6-M has no CPACR (and no FPU) */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* CPACR: CP10, CP11 full access */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    for (uint32_t *s = __data_load, *d = __data_start; d < __data_end;)
        *d++ = *s++;
    for (uint32_t *d = __bss_start; d < __bss_end;)
        *d++ = 0;
    sh_exit(main());
}

void Fault_Handler(void)
{
    uint32_t cfsr = *(volatile uint32_t *)0xE000ED28u;
    char msg[64] = "{\"error\":\"fault\",\"cfsr\":\"0x";
    char *p = msg;
    while (*p)
        p++;
    for (int i = 28; i >= 0; i -= 4)
        *p++ = "0123456789abcdef"[(cfsr >> i) & 15];
    *p++ = '"', *p++ = '}', *p++ = '\n', *p = 0;
    sh_write0(msg);
    sh_exit(3);
}

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(uintptr_t)__stack_top,
    Reset_Handler,
    Fault_Handler, /* NMI        */
    Fault_Handler, /* HardFault  */
    Fault_Handler, /* MemManage  */
    Fault_Handler, /* BusFault   */
    Fault_Handler, /* UsageFault */
    Fault_Handler, /* SecureFault (v8-M) */
    0, 0, 0,
    Fault_Handler, /* SVCall     */
    Fault_Handler, /* DebugMon   */
    0,
    Fault_Handler, /* PendSV     */
    SysTick_Handler,
};
