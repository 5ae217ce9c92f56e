/* semihost.h - Arm semihosting (bkpt 0xab) under qemu -semihosting: host
 * files and the console for the harness, never for the runtime. */
#ifndef SEMIHOST_H
#define SEMIHOST_H

#include <stddef.h>
#include <stdint.h>

void sh_write0(const char *s);             /* SYS_WRITE0: a NUL-terminated string */
int sh_open(const char *path, int mode);   /* SYS_OPEN: mode 0 = "r", 1 = "rb"; -1 on error */
long sh_flen(int fd);                      /* SYS_FLEN: bytes of an open file */
int sh_read(int fd, void *buf, size_t n);  /* SYS_READ: 0 when all n bytes were read */
int sh_close(int fd);
_Noreturn void sh_exit(int code);          /* SYS_EXIT_EXTENDED (0x20): QEMU exits with code */

#endif
