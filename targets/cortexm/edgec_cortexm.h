/* Shared definitions of edgec's Cortex-M firmware: exit codes (QEMU's exit status, mod 256) and stack painting. */
#ifndef EDGEC_CORTEXM_H
#define EDGEC_CORTEXM_H

#include <stdint.h>

#define EDGEC_EXIT_OK 0
#define EDGEC_EXIT_NO_INPUT 10     /* cannot open the input file */
#define EDGEC_EXIT_BAD_INPUT 11    /* bad header or short input */
#define EDGEC_EXIT_NO_OUTPUT 12    /* cannot open or write the output file */
#define EDGEC_EXIT_FAULT 99        /* a fault or unexpected exception (reported on the semihosting console) */

#define EDGEC_STACK_PAINT 0xA5C3E1F7u

/* Bytes of stack ever used since reset (lowest painted word overwritten, up to the stack top). */
uint32_t edgec_stack_high_water(void);
/* Bytes between the end of .bss (or the arena) and the stack top: the stack the board actually has. */
uint32_t edgec_stack_available(void);

#endif
