#include "mul_s8.h"
#include "edgec_broadcast.h"
#include "edgec_fixedpoint.h"

static inline int8_t mul_one(const edgec_mul_s8_params *p, int8_t a, int8_t b) {
    /* |q + offset| <= 255 on both sides: the product fits easily in int32 */
    const int32_t prod = ((int32_t)a + p->input1_offset) * ((int32_t)b + p->input2_offset);
    const int32_t out = edgec_wrap_add(edgec_mbqm(prod, p->output_multiplier, p->output_shift),
                                           p->output_offset);
    return (int8_t)edgec_clamp(out, p->act_min, p->act_max);
}

void edgec_mul_s8(const edgec_mul_s8_params *p, const int8_t *input1, const int8_t *input2, int8_t *output) {
    edgec_broadcast_cursor c = edgec_broadcast_start();
    const int32_t rows = edgec_broadcast_rows(p->shape);
    int8_t *out = output;
    for (int32_t r = 0; r < rows; r++, edgec_broadcast_next_row(&c, p->shape, p->stride1, p->stride2))
        for (int32_t i = 0; i < p->shape[5]; i++)
            *out++ = mul_one(p, input1[c.offset1 + i * p->stride1[5]],
                             input2[c.offset2 + i * p->stride2[5]]);
}
