/* Startup code for edgec firmware on Cortex-M (M0+/M3/M4/M7/M33/M55), generated-model agnostic.
 *
 * Reset_Handler: enable the FPU/MVE (CPACR) FIRST when the core has one, because the compiler may use FP/MVE
 * registers in the copy loops below (and in anything after them); copy .data from flash, zero .bss and the arena,
 * paint the stack for the high-water measurement, call main() and hand its return value to SYS_EXIT_EXTENDED.
 * Every fault vector goes to one handler that reports the fault over semihosting and exits with EDGEC_EXIT_FAULT.
 * Linker symbols come from the board's generated linker script (toolchain/templates/cortexm.ld.j2).
 */
#include <stdint.h>

#include "semihost.h"
#include "edgec_cortexm.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _sarena, _earena, _sstack, _estack;

int main(void);
void Reset_Handler(void);
void Default_Handler(void);

/* Words of the stack painted with EDGEC_STACK_PAINT; main() scans them for the high-water mark. */
void Reset_Handler(void) {
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    /* CPACR (0xE000ED88): CP10 and CP11 full access, before any code that may touch FP/MVE registers */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    uint32_t *src = &_sidata;
    for (uint32_t *dst = &_sdata; dst < &_edata;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0u;
    }
    for (uint32_t *dst = &_sarena; dst < &_earena;) {
        *dst++ = 0u;
    }
    /* paint the stack from its lowest address up to just below the current frame */
    uint32_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (volatile uint32_t *p = &_sstack; (uint32_t)(uintptr_t)p < sp - 64u;) {
        *p++ = EDGEC_STACK_PAINT;
    }
    sh_exit(main());
}

uint32_t edgec_stack_high_water(void) {
    const uint32_t *p = &_sstack;
    while (p < &_estack && *p == EDGEC_STACK_PAINT) {
        p++;
    }
    return (uint32_t)((uintptr_t)&_estack - (uintptr_t)p);
}

uint32_t edgec_stack_available(void) {
    return (uint32_t)((uintptr_t)&_estack - (uintptr_t)&_sstack);
}

static const char *const exception_names[16] = {
    "thread", "reset", "NMI", "HardFault", "MemManage", "BusFault", "UsageFault", "SecureFault",
    "reserved", "reserved", "reserved", "SVCall", "DebugMonitor", "reserved", "PendSV", "SysTick",
};

/* Called by Fault_Handler with the stacked exception frame (r0-r3, r12, lr, pc, xPSR) and IPSR. */
void edgec_fault_report(const uint32_t *frame, uint32_t ipsr) __attribute__((noreturn, used));
void edgec_fault_report(const uint32_t *frame, uint32_t ipsr) {
    uint32_t n = ipsr & 0x1FFu;
    sh_write0("\nFAULT: ");
    sh_write0(n < 16u ? exception_names[n] : "interrupt");
    sh_write_dec(" (exception ", n);
    sh_write_hex(") pc=", frame[6]);
    sh_write_hex(" lr=", frame[5]);
    sh_write_hex(" sp=", (uint32_t)(uintptr_t)frame);
#if !defined(__ARM_ARCH_6M__) && !defined(__ARM_ARCH_8M_BASE__)
    sh_write_hex(" CFSR=", *(volatile uint32_t *)0xE000ED28u);
    sh_write_hex(" HFSR=", *(volatile uint32_t *)0xE000ED2Cu);
    sh_write_hex(" MMFAR=", *(volatile uint32_t *)0xE000ED34u);
    sh_write_hex(" BFAR=", *(volatile uint32_t *)0xE000ED38u);
#endif
    sh_write0("\n");
    sh_exit(EDGEC_EXIT_FAULT);
}

/* Every fault and unused exception lands here: hand the MSP frame and IPSR to edgec_fault_report. */
__attribute__((naked)) void Default_Handler(void) {
    __asm__ volatile(
        "mrs r0, msp\n\t"
        "mrs r1, ipsr\n\t"
        "ldr r2, =edgec_fault_report\n\t"
        "bx r2\n\t"
        ".ltorg");
}

void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));

typedef void (*vector_t)(void);

/* 16 system vectors; no peripheral interrupt is enabled by edgec firmware. */
__attribute__((section(".isr_vector"), used)) const vector_t edgec_vectors[16] = {
    (vector_t)(uintptr_t)&_estack, /* 0: initial SP (end of the data SRAM region) */
    Reset_Handler,                 /* 1 */
    Default_Handler,               /* 2: NMI */
    Default_Handler,               /* 3: HardFault */
    Default_Handler,               /* 4: MemManage */
    Default_Handler,               /* 5: BusFault */
    Default_Handler,               /* 6: UsageFault */
    Default_Handler,               /* 7: SecureFault (v8-M) */
    0, 0, 0,                       /* 8-10: reserved */
    Default_Handler,               /* 11: SVCall */
    Default_Handler,               /* 12: DebugMonitor */
    0,                             /* 13: reserved */
    Default_Handler,               /* 14: PendSV */
    SysTick_Handler,               /* 15: SysTick (the harness defines it in -DEDGEC_SYSTICK builds) */
};
