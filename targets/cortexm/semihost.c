/* Arm semihosting calls (see semihost.h). */
#include "semihost.h"

#include <stddef.h>

#define SYS_OPEN 0x01
#define SYS_CLOSE 0x02
#define SYS_WRITE0 0x04
#define SYS_WRITE 0x05
#define SYS_READ 0x06
#define SYS_SEEK 0x0A
#define SYS_EXIT 0x18
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

static int32_t sh_call(int32_t op, const void *arg) {
    register int32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

int32_t sh_open(const char *path, int32_t mode) {
    uint32_t n = 0;
    while (path[n] != '\0') {
        n++;
    }
    uint32_t block[3] = {(uint32_t)(uintptr_t)path, (uint32_t)mode, n};
    return sh_call(SYS_OPEN, block);
}

int32_t sh_read(int32_t handle, void *buf, uint32_t len) {
    uint32_t block[3] = {(uint32_t)handle, (uint32_t)(uintptr_t)buf, len};
    return sh_call(SYS_READ, block);
}

int32_t sh_write(int32_t handle, const void *buf, uint32_t len) {
    uint32_t block[3] = {(uint32_t)handle, (uint32_t)(uintptr_t)buf, len};
    return sh_call(SYS_WRITE, block);
}

int32_t sh_close(int32_t handle) {
    uint32_t block[1] = {(uint32_t)handle};
    return sh_call(SYS_CLOSE, block);
}

int32_t sh_seek(int32_t handle, uint32_t position) {
    uint32_t block[2] = {(uint32_t)handle, position};
    return sh_call(SYS_SEEK, block);
}

void sh_write0(const char *s) {
    (void)sh_call(SYS_WRITE0, s);
}

void sh_write_hex(const char *prefix, uint32_t value) {
    char buf[11];
    static const char digits[] = "0123456789abcdef";
    buf[0] = '0';
    buf[1] = 'x';
    for (int i = 0; i < 8; i++) {
        buf[2 + i] = digits[(value >> (28 - 4 * i)) & 0xFu];
    }
    buf[10] = '\0';
    sh_write0(prefix);
    sh_write0(buf);
}

void sh_write_dec(const char *prefix, uint32_t value) {
    char buf[11];
    int i = 10;
    buf[i] = '\0';
    do {
        buf[--i] = (char)('0' + value % 10u);
        value /= 10u;
    } while (value != 0u && i > 0);
    sh_write0(prefix);
    sh_write0(buf + i);
}

void sh_exit(int32_t code) {
    uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
    (void)sh_call(SYS_EXIT_EXTENDED, block);
    /* a host without SYS_EXIT_EXTENDED: plain SYS_EXIT (only "stopped" reaches the host), then stop here */
    (void)sh_call(SYS_EXIT, (const void *)(uintptr_t)ADP_STOPPED_APPLICATION_EXIT);
    for (;;) {
        __asm__ volatile("wfi");
    }
}
