/* edgec_mve.h - what the Helium (MVE) int8 kernels (*_mve.c, Cortex-M55) share: the folded bias and the
 * requantization of 4 int32 accumulators at once, bit-exact with edgec_fixedpoint.h's scalar edgec_requantize.
 *
 * Folded bias. The portable kernels accumulate acc = bias + sum w * (x + input_offset). The MVE kernels multiply the
 * raw int8 inputs, 16 lanes per VMLADAVA, and start from
 *     bias_folded[o] = bias[o] + input_offset * sum_k w[o, k]     (modulo 2^32)
 * so that bias_folded + sum w * x = the portable sum, modulo 2^32, hence exactly whenever the portable int32 sum
 * does not overflow (which the compiler checks for every model: fixedpoint.accumulator_extremes). The code
 * generator computes bias_folded at compile time (weights and zero point are constants); edgec_fold_bias_s8 below
 * is the same computation in C, for tests and for callers without the generator. A padded tap must then read the
 * input zero point (x + input_offset = 0), not 0.
 *
 * Requantization (TFLite's rounding), per lane, with the instruction semantics of the Armv8.1-M manual:
 *   MBQM(x, M, shift) = RDBPOT(SRDHM(x << left, M), right),   left = max(shift, 0), right = max(-shift, 0)
 *   x << left         VSHL (vector or scalar shift): the bits shifted out are lost, as the scalar uint32 shift
 *   SRDHM(a, M)       VQRDMULH.S32: sat((2 a M + 2^31) >> 32) = floor((a M + 2^30) / 2^31), INT32_MIN^2 saturated
 *                     to INT32_MAX: edgec_srdhm exactly
 *   RDBPOT(y, right)  VRSHL by -right rounds half up, (y + 2^(right-1)) >> right computed without overflow;
 *                     TFLite rounds half away from zero, which differs only for negative y at a tie. Adding -1 to a
 *                     negative y first (VQADD, right > 0 only) moves exactly the negative ties down and no other
 *                     value across a rounding boundary (y = -k 2^r - d: d < 2^(r-1) still gives -k, d >= 2^(r-1)
 *                     gives -k-1); INT32_MIN is a multiple of 2^r, saturating the add keeps it, and it rounds to
 *                     itself >> r as before.
 * then + output_offset (VADD), the clamp (VMAX, VMIN). onnxruntime's rounding (rounding 1) stays scalar
 * (edgec_requantize_f32_cold per lane): QDQ ONNX models only.
 */
#ifndef EDGEC_MVE_H
#define EDGEC_MVE_H

#include <stdint.h>

/* bias_folded[o] = bias[o] + input_offset * sum_k weights[o * k + ...] for `rows` rows of `k` int8 weights, modulo
 * 2^32 (bias may be NULL). Plain C: the generator does the same in Python at compile time. */
static inline void edgec_fold_bias_s8(const int8_t *weights, const int32_t *bias, int32_t input_offset, int32_t rows,
                                      int32_t k, int32_t *bias_folded) {
    for (int32_t o = 0; o < rows; o++) {
        int32_t sum = 0;
        for (int32_t i = 0; i < k; i++) sum += weights[o * k + i];
        bias_folded[o] = (int32_t)((uint32_t)(bias ? bias[o] : 0) + (uint32_t)input_offset * (uint32_t)sum);
    }
}

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#include <arm_mve.h>

#include "edgec_fixedpoint.h"

/* The output stage's constants, read once per call (int8 stores may alias anything). */
typedef struct {
    int32_t output_offset, act_min, act_max, rounding;
} edgec_mve_out_t;

/* TFLite's MBQM of 4 lanes, each with its own multiplier and shift (per-channel rows of FULLY_CONNECTED) */
static inline int32x4_t edgec_mve_mbqm(int32x4_t x, int32x4_t multiplier, int32x4_t shift) {
    const int32x4_t zero = vdupq_n_s32(0);
    const int32x4_t right = vminq_s32(shift, zero); /* -right in the header's terms: a VRSHL shift count */
    x = vshlq_s32(x, vmaxq_s32(shift, zero));
    x = vqrdmulhq_s32(x, multiplier);
    /* x & right has its sign bit set iff x < 0 and right < 0: -1 there, 0 elsewhere */
    x = vqaddq_s32(x, vshrq_n_s32(vandq_s32(x, right), 31));
    return vrshlq_s32(x, right);
}

/* the same with one multiplier and shift for all 4 lanes (4 pixels of one conv channel) */
static inline int32x4_t edgec_mve_mbqm_n(int32x4_t x, int32_t multiplier, int32_t shift) {
    if (shift > 0) x = vshlq_r_s32(x, shift);
    x = vqrdmulhq_n_s32(x, multiplier);
    if (shift < 0) {
        x = vqaddq_s32(x, vshrq_n_s32(x, 31)); /* -1 on the negative lanes */
        x = vrshlq_n_s32(x, shift);
    }
    return x;
}

/* + output_offset, clamped to [act_min, act_max] */
static inline int32x4_t edgec_mve_offset_clamp(int32x4_t x, edgec_mve_out_t st) {
    x = vaddq_n_s32(x, st.output_offset);
    return vminq_s32(vmaxq_s32(x, vdupq_n_s32(st.act_min)), vdupq_n_s32(st.act_max));
}

/* onnxruntime's rescale of each lane, the scalar edgec_requantize (rounding 1) */
static inline int32x4_t edgec_mve_requantize_f32(int32x4_t x, const int32_t multiplier[4], const int32_t shift[4]) {
    int32_t lanes[4];
    vst1q_s32(lanes, x);
    for (int i = 0; i < 4; i++) lanes[i] = edgec_requantize_f32_cold(lanes[i], multiplier[i], shift[i]);
    return vld1q_s32(lanes);
}

#endif

#endif
