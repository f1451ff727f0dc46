/* edgec_dsp_out.h - the DSP kernels' output stage, computed at compile time (toolchain/ops/int8_common.py,
 * dsp_output_stage): TFLite's requantization in 4 instructions instead of about 20, the same bytes.
 *
 * TFLite:  y = clamp(zp_y + RDBPOT(SRDHM(acc * 2^left, M), e), act_min, act_max)   (edgec_fixedpoint.h)
 * with SRDHM(a, M) = floor((a M + 2^30) / 2^31) (no saturation: M in [0, 2^31)) and RDBPOT(s, e) = s / 2^e
 * rounded half away from zero = floor((s + 2^(e-1) - [s < 0]) / 2^e).
 *
 * Here, with a2 = acc * 2^(left+1) and, per channel, round = 2^(e-1) + zp_y * 2^e:
 *   SMMLAR(a2, M, round) = round + floor((a2 M + 2^31) / 2^32) = round + floor((a M + 2^30) / 2^31)
 *                        = round + SRDHM(a, M)                                           (one instruction)
 *   y' = (SMMLAR(a2, M, round) + (acc >> 31)) >> e = floor((s + 2^(e-1) - [acc < 0]) / 2^e) + zp_y
 * [acc < 0] is [s < 0] except when s = 0 (acc < 0 and a M >= -2^30), and then both give floor((2^(e-1) - 0 or 1)
 * / 2^e) = 0 for e >= 1: y' = RDBPOT(s, e) + zp_y exactly. The compiler keeps a layer on this stage only when it
 * is exact for every accumulator the layer can reach (fixedpoint.accumulator_extremes): a2 fits int32, round +
 * s + (acc >> 31) fits int32, e >= 1, TFLite's rounding; else it passes NULL and the kernel requantizes as the
 * portable kernel does. tests/host/test_dsp_output_stage.py compares the two on every shift and edge value.
 * Per output: LSL, SMMLAR, ADD (acc ASR 31), ASR, SSAT #8 (and the clamp if the activation narrows it).
 */
#ifndef EDGEC_DSP_OUT_H
#define EDGEC_DSP_OUT_H

#include <stdint.h>

#include "edgec_acle.h"

/* One output channel's compile-time constants: EDGEC_DSP_OUT_WORDS int32 in flash */
#define EDGEC_DSP_OUT_WORDS 5
#define EDGEC_DSP_OUT_START 0 /* the accumulator's start: the bias (conv, FC), bias - zp_x * sum(w) (depthwise) */
#define EDGEC_DSP_OUT_M 1     /* M */
#define EDGEC_DSP_OUT_ROUND 2 /* 2^(e-1) + zp_y * 2^e */
#define EDGEC_DSP_OUT_PRE 3   /* left + 1 */
#define EDGEC_DSP_OUT_RIGHT 4 /* e >= 1 */

#if EDGEC_HAVE_DSP
static inline int32_t edgec_smmlar(int32_t a, int32_t b, int32_t acc) {
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
static inline int32_t edgec_ssat8(int32_t x) { return __ssat(x, 8); }
#else
/* SMMLAR: (acc * 2^32 + a b + 2^31) >> 32, kept to 32 bits */
static inline int32_t edgec_smmlar(int32_t a, int32_t b, int32_t acc) {
    const int64_t high = ((int64_t)a * (int64_t)b + ((int64_t)1 << 31)) >> 32;
    return (int32_t)((uint32_t)acc + (uint32_t)high);
}
static inline int32_t edgec_ssat8(int32_t x) { return x < -128 ? -128 : (x > 127 ? 127 : x); }
#endif

/* the same with the channel's constants as arguments (kept in registers by a kernel's loop: int8 stores may alias
 * the stage, so reads through c inside a loop that stores outputs are repeated after every store) */
static inline int32_t edgec_dsp_requant_k(int32_t acc, int32_t pre, int32_t m, int32_t round, int32_t right) {
    const int32_t a2 = (int32_t)((uint32_t)acc << pre);
    const int32_t t = (int32_t)((uint32_t)edgec_smmlar(a2, m, round) + (uint32_t)(acc >> 31));
    return edgec_ssat8(t >> right);
}

/* requantized acc + zp_y, saturated to int8 (the clamp to a narrower activation range is the caller's) */
static inline int32_t edgec_dsp_requant(int32_t acc, const int32_t *c) {
    return edgec_dsp_requant_k(acc, c[EDGEC_DSP_OUT_PRE], c[EDGEC_DSP_OUT_M], c[EDGEC_DSP_OUT_ROUND],
                               c[EDGEC_DSP_OUT_RIGHT]);
}

/* The records kernels' 4 x 4 block: 4 channels' (rows') weight pairs for 4 inputs, 2 words each, by 2 LDM from r0
 * into r8-r11, times the 4 inputs as int16 pairs in r12 and lr, added to the 4 sums in r4-r7 by 8 SMLAD */
#define EDGEC_DSP_REC_SMLAD_4X4                                                                                        \
    "ldm r0!, {r8-r11}\n\t"                                                                                            \
    "smlad r4, r8, r12, r4\n\t"                                                                                        \
    "smlad r4, r9, lr, r4\n\t"                                                                                         \
    "smlad r5, r10, r12, r5\n\t"                                                                                       \
    "smlad r5, r11, lr, r5\n\t"                                                                                        \
    "ldm r0!, {r8-r11}\n\t"                                                                                            \
    "smlad r6, r8, r12, r6\n\t"                                                                                        \
    "smlad r6, r9, lr, r6\n\t"                                                                                         \
    "smlad r7, r10, r12, r7\n\t"                                                                                       \
    "smlad r7, r11, lr, r7\n\t"                                                                                        

/* The stage in an asm block: the sum in register `acc`, the channel's M, round and e in registers m, rnd, e (m is
 * overwritten by the output); SMMLAR, ADD (the sign, acc ASR 31), ASR, SSAT #8, STRB to [r2] post-incremented.
 * For the records kernels, whose sums already hold a2 = acc 2^pre (the pre folded into the weights and start). */
#define EDGEC_DSP_OUT_ASM(acc, m, rnd, e)                                                                              \
    "smmlar " m ", " acc ", " m ", " rnd "\n\t"                                                                       \
    "add " m ", " m ", " acc ", asr #31\n\t"                                                                          \
    "asr " m ", " m ", " e "\n\t"                                                                                     \
    "ssat " m ", #8, " m "\n\t"                                                                                       \
    "strb " m ", [r2], #1\n\t"

#endif
