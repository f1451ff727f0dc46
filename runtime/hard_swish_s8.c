#include "hard_swish_s8.h"
#include "edgec_fixedpoint.h"

/* Q0.15 products, int16 in and out (int32 arithmetic, stored back into int16 where TFLM stores) */

/* a * b * 2 / 2^16 rounded to nearest (gemmlowp's int16 SaturatingRoundingDoublingHighMul) */
static int16_t srdhm16(int16_t a, int16_t b) {
    if (a == INT16_MIN && b == INT16_MIN) return INT16_MAX;
    const int32_t ab = (int32_t)a * (int32_t)b;
    return (int16_t)((ab + (ab >= 0 ? (1 << 14) : 1 - (1 << 14))) / (1 << 15)); /* C division truncates */
}

/* the same product truncated toward zero (SQDMULH): cancels the rounding bias of srdhm16 */
static int16_t sdhm16(int16_t a, int16_t b) {
    if (a == INT16_MIN && b == INT16_MIN) return INT16_MAX;
    return (int16_t)(((int32_t)a * (int32_t)b) / (1 << 15));
}

static int16_t saturating_left_shift16(int16_t x, int amount) {
    return (int16_t)edgec_clamp((int32_t)x * (1 << amount), INT16_MIN, INT16_MAX);
}

/* v = (x - zp_x) * 2^7 on the scale s_x / 128. out_v = v on the output scale before its final right shift.
 * r = v on the scale where 3.0 is 2^15 (saturating), then (r + 2^15) / 2 = relu6(x + 3) / 6 in Q0.15.
 * y = zp_y + out_v * r, shifted to the output scale. */
void edgec_hard_swish_s8(const edgec_hard_swish_s8_params *p, const int8_t *input, int8_t *output) {
    const int16_t m_out = (int16_t)p->output_multiplier, m_relu = (int16_t)p->reluish_multiplier;
    const int relu_shift = (int)p->reluish_shift;
    for (int32_t i = 0; i < p->size; i++) {
        const int16_t v = (int16_t)(((int32_t)input[i] - p->input_offset) * (1 << 7));
        const int16_t out_v = srdhm16(v, m_out);
        int16_t r = v;
        /* left shifts saturate: all but the last bit before the multiply, the last bit after, so a
         * saturation in the first step cannot change the result */
        if (relu_shift > 0) r = saturating_left_shift16(r, relu_shift - 1);
        r = srdhm16(r, m_relu);
        if (relu_shift > 0) r = saturating_left_shift16(r, 1);
        if (relu_shift < 0) r = (int16_t)edgec_rounding_divide_by_pot(r, -relu_shift);
        r = (int16_t)(((int32_t)r + (1 << 15)) >> 1);
        int16_t y = (int16_t)edgec_rounding_divide_by_pot(sdhm16(r, out_v), -(int)p->output_shift);
        y = (int16_t)(y + p->output_offset);
        output[i] = (int8_t)edgec_clamp(y, -128, 127);
    }
}
