/* edgec_host.h - the output stage of the host kernels (runtime/<op>_host.c): TFLite's requantization with its
 * per-channel constants computed by the compiler, and no branch on the rounding mode per output.
 *
 * q[4] per output channel (toolchain/ops/int8_common.py host_requant_table): the multiplier M, left = max(shift,
 * 0), right = max(-shift, 0) (both <= 31) and half = 2^(right-1) (0 when right is 0). Then, exactly as
 * edgec_mbqm (M >= 0, so the one saturating case of SRDHM, INT32_MIN * INT32_MIN, cannot occur):
 *     s = floor((acc 2^left * M + 2^30) / 2^31)                               (SRDHM, edgec_fixedpoint.h)
 *     RDBPOT(s, right) = floor((s + half - [s < 0 and right > 0]) / 2^right)  (half away from zero)
 * For s >= 0 adding half and flooring rounds the remainder r up when r >= half, TFLite's r > half - 1; for
 * s < 0 adding half - 1 rounds up when r >= half + 1, TFLite's r > half. Both steps are done as one int64 sum
 * and one shift (edgec_host_q below), about 12 instructions per output on x86-64 against about 40 through
 * edgec_requantize; the kernels prepare a channel's constants once for all the pixels they requantize.
 */
#ifndef EDGEC_HOST_H
#define EDGEC_HOST_H

#include <stdint.h>

/* One channel's constants in the form the output stage uses: the two roundings in one int64 sum and one shift.
 * With t = acc 2^left M + 2^30, SRDHM = floor(t / 2^31) and s < 0 iff t < 0; for any integer h,
 * floor((floor(t / 2^31) + h) / 2^right) = floor((t + h 2^31) / 2^(31 + right)), here h = half - [t < 0 and
 * right > 0] (half != 0 iff right > 0): round = half 2^31, neg = -2^31 when right > 0 (else 0), added when t < 0.
 * |t| <= 2^62 + 2^30 and |h 2^31| <= 2^61: no overflow. Prepared once per channel, then per output about 12
 * instructions and no branch (a 64-bit multiply, shifts, adds; the clamp as two conditional moves). */
typedef struct {
    int64_t m, round, neg;
    int32_t left, shift;
} edgec_host_q;

static inline edgec_host_q edgec_host_q_of(const int32_t *q) {
    edgec_host_q k;
    k.m = q[0], k.left = q[1], k.shift = 31 + q[2];
    k.round = (int64_t)q[3] * ((int64_t)1 << 31), k.neg = q[3] != 0 ? -((int64_t)1 << 31) : 0;
    return k;
}

static inline int32_t edgec_host_mbqm_k(int32_t acc, const edgec_host_q *k) {
    const int64_t t = (int64_t)(int32_t)((uint32_t)acc << k->left) * k->m + ((int64_t)1 << 30);
    return (int32_t)((t + k->round + ((t >> 63) & k->neg)) >> k->shift);
}

/* requantize, add the output zero point, clamp to [lo, hi] */
static inline int8_t edgec_host_out_k(int32_t acc, const edgec_host_q *k, int32_t zp, int32_t lo, int32_t hi) {
    const int32_t y = edgec_host_mbqm_k(acc, k) + zp;
    return (int8_t)(y < lo ? lo : (y > hi ? hi : y));
}

/* The vector output stage of 16 channels [c0, c0 + 16) of one pixel, when the compiler found it exact for the
 * layer (toolchain/ops/int8_common.py host_vector_stage, which states the proof): per channel c the doubles
 * m[c] = M / 2^sh, k[c] = (2^30 + half 2^31 + K 2^sh) / 2^sh, kd[c] = [right > 0] 2^31 / 2^sh (vq = [m; k; kd],
 * each out_c long) and off[c] = zp_y - K (voff = [off; n_fix; the n_fix channels the scalar stage redoes]).
 * Then edgec_host_mbqm's floor((acc M + C) / 2^sh) + zp_y is
 *     (int32)(acc m + k + (acc >> 31) kd) + off
 * with every double operation exact (integers times 2^-sh below 2^53 times that) and the sum positive, so the
 * truncation is the floor. A loop of constant trip count 16 over restrict pointers, which gcc -O2 vectorizes
 * (SSE2: CVTDQ2PD, MULPD, ADDPD, CVTTPD2DQ on 2 lanes, the clamp and the narrowing on 4 and 16): about 8
 * instructions per output against about 20 for the scalar stage. */
#define EDGEC_HOST_VBLOCK 16

static inline void edgec_host_out16(const int32_t *restrict acc, const double *restrict m, const double *restrict k,
                                    const double *restrict kd, const int32_t *restrict off, int32_t lo, int32_t hi,
                                    int8_t *restrict out) {
    for (int32_t j = 0; j < EDGEC_HOST_VBLOCK; j++) {
        const int32_t a = acc[j];
        const double w = (double)a * m[j] + (k[j] + (double)(a >> 31) * kd[j]);
        int32_t y = (int32_t)w + off[j];
        y = y < lo ? lo : y;
        y = y > hi ? hi : y;
        out[j] = (int8_t)y;
    }
}

/* dst[i] = src[i] for i < n, int8 widened to int16: blocks of 8 (a loop of constant trip count, which gcc -O2
 * vectorizes: 1 load, PUNPCKLBW, PSRAW, 1 store), then the rest one by one */
static inline void edgec_host_widen(const int8_t *src, int32_t n, int16_t *dst) {
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int32_t j = 0; j < 8; j++) dst[i + j] = src[i + j];
    }
    for (; i < n; i++) dst[i] = src[i];
}

/* the same from the table row q (one output of a channel) */
static inline int8_t edgec_host_out(int32_t acc, const int32_t *q, int32_t zp, int32_t lo, int32_t hi) {
    const edgec_host_q k = edgec_host_q_of(q);
    return edgec_host_out_k(acc, &k, zp, lo, hi);
}

#endif
