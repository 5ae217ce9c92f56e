/* semihost.c - semihosting calls: r0 = operation, r1 = argument block. */
#include "semihost.h"

#include <string.h>

static uintptr_t call(uintptr_t op, const void *arg)
{
    register uintptr_t r0 __asm__("r0") = op;
    register uintptr_t r1 __asm__("r1") = (uintptr_t)arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void sh_write0(const char *s) { call(0x04, s); }

int sh_open(const char *path, int mode)
{
    uintptr_t a[3] = {(uintptr_t)path, (uintptr_t)mode, strlen(path)};
    return (int)call(0x01, a);
}

long sh_flen(int fd)
{
    uintptr_t a[1] = {(uintptr_t)fd};
    return (long)call(0x0c, a);
}

int sh_read(int fd, void *buf, size_t n)
{
    uintptr_t a[3] = {(uintptr_t)fd, (uintptr_t)buf, n};
    return (int)call(0x06, a);
}

int sh_close(int fd)
{
    uintptr_t a[1] = {(uintptr_t)fd};
    return (int)call(0x02, a);
}

_Noreturn void sh_exit(int code)
{
    /* ADP_Stopped_ApplicationExit with an exit code */
    uintptr_t a[2] = {0x20026, (uintptr_t)code};
    call(0x20, a);
    call(0x18, (const void *)0x20026); /* older hosts: SYS_EXIT */
    for (;;)
        ;
}
