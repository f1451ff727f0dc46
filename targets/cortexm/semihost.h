/* Arm semihosting for bare-metal Cortex-M (edgec target support; no libc needed).
 *
 * Every call is `bkpt 0xAB` with the operation in r0 and its argument (a pointer to a parameter block) in r1;
 * the debugger or emulator (QEMU with -semihosting-config enable=on,target=native, or pyOCD) services it.
 * Without a semihosting host attached, the first call faults: only use these under QEMU or a debug probe.
 */
#ifndef EDGEC_SEMIHOST_H
#define EDGEC_SEMIHOST_H

#include <stdint.h>

#define SH_MODE_RB 1 /* fopen mode "rb" */
#define SH_MODE_WB 5 /* fopen mode "wb" */
#define SH_MODE_RPB 3 /* fopen mode "r+b": read and write an existing file */
#define SH_MODE_WPB 7 /* fopen mode "w+b": create (or truncate), read and write */

/* SYS_OPEN: a host file, or ":tt" for the console. Returns a handle >= 0, or -1. */
int32_t sh_open(const char *path, int32_t mode);
/* SYS_READ / SYS_WRITE: return the number of bytes NOT transferred (0 = all of them). */
int32_t sh_read(int32_t handle, void *buf, uint32_t len);
int32_t sh_write(int32_t handle, const void *buf, uint32_t len);
int32_t sh_close(int32_t handle);
/* SYS_SEEK: the absolute byte position of the next read or write. Returns 0 on success. */
int32_t sh_seek(int32_t handle, uint32_t position);
/* SYS_WRITE0: a NUL-terminated string to the host console. */
void sh_write0(const char *s);
/* sh_write0 of "prefix0x%08x" without printf */
void sh_write_hex(const char *prefix, uint32_t value);
void sh_write_dec(const char *prefix, uint32_t value);
/* SYS_EXIT_EXTENDED: the host (QEMU) exits with `code` (0..255) as its process exit status. */
void sh_exit(int32_t code) __attribute__((noreturn));

#endif
