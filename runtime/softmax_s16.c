#include "softmax_s16.h"
#include "edgec_fixedpoint.h"

/* Interpolation in a 513-entry table over the int16 range: index 256 + (v >> 7), weight the low 7 bits.
 *     lookup(v) = T[i] + ((T[i+1] - T[i]) * (v & 127) + 64) >> 7 */
static inline int32_t lookup(const int16_t *table, int32_t v) {
    const int32_t i = 256 + (v >> 7);
    const int32_t slope = (int32_t)table[i + 1] - (int32_t)table[i];
    return (int16_t)((int32_t)table[i] + ((slope * (v & 127) + 64) >> 7));
}

/* Per row, with m = max(row):
 *     e_c = lookup(exp_table, clamp(MBQM(x_c - m, M, shift) + 32767, -32768, 32767))     exp(x_c - m), Q0.15
 *     S   = sum e_c (int32),  h = clz(S),  z = (S * 2^(h-1) + 2^13) >> 14                   S as [1, 2) in Q1.15 + 1
 *     r   = lookup(reciprocal_table, clamp(z - 98304, -32768, 32767))                       1 / (S / 2^(31-h))
 *     y_c = clamp((e_c * r + 2^(30-h)) >> (31 - h), 0, 32767)                                e_c / S in Q0.15
 * exactly TFLite Micro's int16 softmax (the exponentials kept in the output row as it does, so the kernel works
 * in place). Cost: one rescale and one table read per element, then one multiply-shift per element; no MACs. */
void edgec_softmax_s16(const edgec_softmax_s16_params *p, const int16_t *input, int16_t *output) {
    for (int32_t row = 0; row < p->outer; row++) {
        const int16_t *x = input + row * p->depth;
        int16_t *y = output + row * p->depth;
        int32_t m = INT16_MIN;
        for (int32_t c = 0; c < p->depth; c++) m = x[c] > m ? x[c] : m;
        int32_t sum = 0;
        for (int32_t c = 0; c < p->depth; c++) {
            const int32_t d = edgec_mbqm((int32_t)x[c] - m, p->input_multiplier, p->input_shift) + 32767;
            y[c] = (int16_t)lookup(p->exp_table, edgec_clamp(d, INT16_MIN, INT16_MAX));
            sum += y[c];
        }
        const int h = edgec_clz32((uint32_t)sum);
        const int32_t z = (int32_t)((((int64_t)sum << (h - 1)) + (1 << 13)) >> 14);
        const int32_t r = lookup(p->reciprocal_table, edgec_clamp(z - 98304, INT16_MIN, INT16_MAX));
        const int right = 31 - h;
        for (int32_t c = 0; c < p->depth; c++) {
            const int64_t v = ((int64_t)y[c] * r + ((int64_t)1 << (right - 1))) >> right;
            y[c] = (int16_t)(v < 0 ? 0 : (v > 32767 ? 32767 : v));
        }
    }
}
