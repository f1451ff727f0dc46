/* edgec_acle.h - the Arm DSP instructions the fast int8 kernels (*_dsp.c) are written with.
 *
 * On a core with the DSP extension (Cortex-M4, M7, M33, M55: __ARM_FEATURE_DSP) each edgec_ name is the ACLE
 * intrinsic of arm_acle.h, one instruction. Everywhere else (the host, cores without DSP) it is a plain-C model
 * of that instruction, written from its pseudocode in the Arm Architecture Reference Manual, so the same kernel
 * source runs on x86 under ASan/UBSan and is checked there against the portable kernels before it runs on an
 * emulated core. The code generator picks a *_dsp kernel only for a core with DSP; the C models are for tests.
 *
 * Lanes: an int32 word holds two int16 halves, bottom (bits 0..15) and top (bits 16..31), or four int8 bytes
 * b0..b3 (b0 the lowest address in memory on these little-endian cores).
 */
#ifndef EDGEC_ACLE_H
#define EDGEC_ACLE_H

#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define EDGEC_HAVE_DSP 1
#else
#define EDGEC_HAVE_DSP 0
#endif

/* 4 bytes from any address as one word (LDR: unaligned access is allowed on v7E-M/v8-M; memcpy compiles to it) */
static inline int32_t edgec_read_s8x4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* 2 int16 from any address as one word */
static inline int32_t edgec_read_s16x2(const int16_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

#if EDGEC_HAVE_DSP

/* SXTB16: bytes b0 and b2 sign-extended into the bottom and top halves */
static inline int32_t edgec_sxtb16(int32_t x) { return (int32_t)__sxtb16((int8x4_t)x); }

/* SXTB16 x, ROR #8: bytes b1 and b3 sign-extended into the bottom and top halves */
static inline int32_t edgec_sxtb16_ror8(int32_t x) {
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/* SMLAD: acc + bottom(a) * bottom(b) + top(a) * top(b), the sum wrapping modulo 2^32 */
static inline int32_t edgec_smlad(int32_t a, int32_t b, int32_t acc) {
    return __smlad((int16x2_t)a, (int16x2_t)b, acc);
}

/* SMLABB / SMLABT / SMLATB / SMLATT: acc + one half of a times one half of b (B = bottom, T = top) */
static inline int32_t edgec_smlabb(int32_t a, int32_t b, int32_t acc) { return __smlabb(a, b, acc); }
static inline int32_t edgec_smlabt(int32_t a, int32_t b, int32_t acc) { return __smlabt(a, b, acc); }
static inline int32_t edgec_smlatb(int32_t a, int32_t b, int32_t acc) { return __smlatb(a, b, acc); }
static inline int32_t edgec_smlatt(int32_t a, int32_t b, int32_t acc) { return __smlatt(a, b, acc); }

/* PKHBT: bottom half of a, top half of (b << 16) */
static inline int32_t edgec_pkhbt_lsl16(int32_t a, int32_t b) {
    int32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* SXTAB16 a, x (ROR 8): a + the sign-extended bytes b0, b2 (b1, b3) of x, per 16-bit half (each half wraps) */
static inline int32_t edgec_sxtab16(int32_t a, int32_t x) { return (int32_t)__sxtab16((int16x2_t)a, (int8x4_t)x); }
static inline int32_t edgec_sxtab16_ror8(int32_t a, int32_t x) {
    int32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
}

#else /* plain-C models of the same instructions */

static inline int32_t edgec__bottom(int32_t x) { return (int16_t)(uint16_t)((uint32_t)x & 0xFFFFu); }
static inline int32_t edgec__top(int32_t x) { return (int16_t)(uint16_t)((uint32_t)x >> 16); }
static inline int32_t edgec__halves(int32_t bottom, int32_t top) {
    return (int32_t)(((uint32_t)(uint16_t)bottom) | ((uint32_t)(uint16_t)top << 16));
}
static inline int32_t edgec__byte(int32_t x, int k) { return (int8_t)(uint8_t)((uint32_t)x >> (8 * k)); }

static inline int32_t edgec_sxtb16(int32_t x) { return edgec__halves(edgec__byte(x, 0), edgec__byte(x, 2)); }
static inline int32_t edgec_sxtb16_ror8(int32_t x) { return edgec__halves(edgec__byte(x, 1), edgec__byte(x, 3)); }

/* the products fit int32 (|p| <= 2^30); the sum wraps as the instruction's does */
static inline int32_t edgec_smlad(int32_t a, int32_t b, int32_t acc) {
    uint32_t s = (uint32_t)acc + (uint32_t)(edgec__bottom(a) * edgec__bottom(b));
    return (int32_t)(s + (uint32_t)(edgec__top(a) * edgec__top(b)));
}
static inline int32_t edgec_smlabb(int32_t a, int32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(edgec__bottom(a) * edgec__bottom(b)));
}
static inline int32_t edgec_smlabt(int32_t a, int32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(edgec__bottom(a) * edgec__top(b)));
}
static inline int32_t edgec_smlatb(int32_t a, int32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(edgec__top(a) * edgec__bottom(b)));
}
static inline int32_t edgec_smlatt(int32_t a, int32_t b, int32_t acc) {
    return (int32_t)((uint32_t)acc + (uint32_t)(edgec__top(a) * edgec__top(b)));
}
static inline int32_t edgec_pkhbt_lsl16(int32_t a, int32_t b) {
    return edgec__halves(edgec__bottom(a), edgec__bottom(b));
}
static inline int32_t edgec__sxtab16(int32_t a, int32_t x, int byte) {
    return edgec__halves(edgec__bottom(a) + edgec__byte(x, byte), edgec__top(a) + edgec__byte(x, byte + 2));
}
static inline int32_t edgec_sxtab16(int32_t a, int32_t x) { return edgec__sxtab16(a, x, 0); }
static inline int32_t edgec_sxtab16_ror8(int32_t a, int32_t x) { return edgec__sxtab16(a, x, 1); }

#endif

#endif
