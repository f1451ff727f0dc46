#include "mul_s8.h"
#include "edgec_fixedpoint.h"

static inline int8_t mul_one(const edgec_mul_s8_params *p, int8_t a, int8_t b) {
    /* |q + offset| <= 255 on both sides: the product fits easily in int32 */
    const int32_t prod = ((int32_t)a + p->input1_offset) * ((int32_t)b + p->input2_offset);
    const int32_t out = edgec_wrapping_add(edgec_mbqm(prod, p->output_multiplier, p->output_shift),
                                           p->output_offset);
    return (int8_t)edgec_clamp(out, p->act_min, p->act_max);
}

void edgec_mul_s8(const edgec_mul_s8_params *p, const int8_t *input1, const int8_t *input2, int8_t *output) {
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
                            *out++ = mul_one(p, a4[i5 * s1[5]], b4[i5 * s2[5]]);
                    }
                }
            }
        }
    }
}
