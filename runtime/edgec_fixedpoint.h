/* edgec_fixedpoint.h - TFLite's integer rescaling, the C twin of toolchain/fixedpoint.py.
 *
 * A real multiplier r is stored as (M, shift) with r = M * 2^(shift-31), M in [2^30, 2^31).
 * Rescaling x by r rounds twice, exactly like TFLite Micro's reference kernels:
 *     MBQM(x, M, shift) = RDBPOT(SRDHM(x * 2^max(shift,0), M), max(-shift,0))
 * SRDHM(a, b) = (a*b + 2^30) / 2^31, rounded half away from zero, saturating the one overflow case.
 * RDBPOT(x, e) = x / 2^e rounded half away from zero.
 * Signed right shifts are arithmetic on every compiler edgec supports (gcc, clang, arm-none-eabi-gcc).
 */
#ifndef EDGEC_FIXEDPOINT_H
#define EDGEC_FIXEDPOINT_H

#include <stdint.h>

static inline int32_t edgec_srdhm(int32_t a, int32_t b) {
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31)); /* C division truncates toward zero */
}

static inline int32_t edgec_rounding_divide_by_pot(int32_t x, int exponent) {
    int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

static inline int32_t edgec_mbqm(int32_t x, int32_t multiplier, int shift) {
    int left = shift > 0 ? shift : 0;
    int right = shift > 0 ? 0 : -shift;
    /* x * 2^left, wrapping like TFLite's int32 multiply (done unsigned: signed overflow is UB in C) */
    int32_t shifted = (int32_t)((uint32_t)x << left);
    return edgec_rounding_divide_by_pot(edgec_srdhm(shifted, multiplier), right);
}

static inline int32_t edgec_clamp(int32_t x, int32_t lo, int32_t hi) {
    return x < lo ? lo : (x > hi ? hi : x);
}

static inline int32_t edgec_min(int32_t a, int32_t b) { return a < b ? a : b; }
static inline int32_t edgec_max(int32_t a, int32_t b) { return a > b ? a : b; }

#endif
