#include "add_s8.h"
#include "edgec_fixedpoint.h"

/* One input value on the shared scale. |q + offset| <= 255, so the shift by left_shift (20) stays below 2^28. */
static inline int32_t rescale_input(int32_t q, int32_t offset, int32_t left_shift, int32_t multiplier,
                                    int32_t shift) {
    return edgec_mbqm((q + offset) * ((int32_t)1 << left_shift), multiplier, shift);
}

static inline int8_t add_sub_one(const edgec_add_s8_params *p, int8_t a, int8_t b, int subtract) {
    const int32_t v1 = rescale_input(a, p->input1_offset, p->left_shift, p->input1_multiplier, p->input1_shift);
    const int32_t v2 = rescale_input(b, p->input2_offset, p->left_shift, p->input2_multiplier, p->input2_shift);
    const int32_t raw = subtract ? v1 - v2 : v1 + v2; /* |v_k| < 2^28: no overflow */
    const int32_t out = edgec_wrapping_add(edgec_mbqm(raw, p->output_multiplier, p->output_shift),
                                           p->output_offset);
    return (int8_t)edgec_clamp(out, p->act_min, p->act_max);
}

/* The broadcast loop nest: loops 0..4 position both inputs, loop 5 runs the element function. */
static void add_sub(const edgec_add_s8_params *p, const int8_t *input1, const int8_t *input2, int8_t *output,
                    int subtract) {
    const int32_t *n = p->shape, *s1 = p->stride1, *s2 = p->stride2;
    int8_t *out = output;
    for (int32_t i0 = 0; i0 < n[0]; i0++) {
        const int8_t *a0 = input1 + i0 * s1[0], *b0 = input2 + i0 * s2[0];
        for (int32_t i1 = 0; i1 < n[1]; i1++) {
            const int8_t *a1 = a0 + i1 * s1[1], *b1 = b0 + i1 * s2[1];
            for (int32_t i2 = 0; i2 < n[2]; i2++) {
                const int8_t *a2 = a1 + i2 * s1[2], *b2 = b1 + i2 * s2[2];
                for (int32_t i3 = 0; i3 < n[3]; i3++) {
                    const int8_t *a3 = a2 + i3 * s1[3], *b3 = b2 + i3 * s2[3];
                    for (int32_t i4 = 0; i4 < n[4]; i4++) {
                        const int8_t *a4 = a3 + i4 * s1[4], *b4 = b3 + i4 * s2[4];
                        for (int32_t i5 = 0; i5 < n[5]; i5++)
                            *out++ = add_sub_one(p, a4[i5 * s1[5]], b4[i5 * s2[5]], subtract);
                    }
                }
            }
        }
    }
}

void edgec_add_s8(const edgec_add_s8_params *p, const int8_t *input1, const int8_t *input2, int8_t *output) {
    add_sub(p, input1, input2, output, 0);
}

void edgec_sub_s8(const edgec_add_s8_params *p, const int8_t *input1, const int8_t *input2, int8_t *output) {
    add_sub(p, input1, input2, output, 1);
}
