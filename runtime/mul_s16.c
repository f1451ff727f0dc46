#include "mul_s16.h"
#include "edgec_broadcast.h"
#include "edgec_fixedpoint.h"

/* y = clamp(MBQM(q_1 * q_2, M, shift), act_min, act_max), M, shift from s_1 s_2 / s_y (TFLite Micro's int16 MUL,
 * MulElementwise). |q_1 q_2| <= 2^30 fits int32; a positive shift scales it up wrapping in int32 as TFLite does
 * (edgec_mbqm). Cost: one multiply and one double-rounding rescale per output element. */
void edgec_mul_s16(const edgec_mul_s16_params *p, const int16_t *input1, const int16_t *input2, int16_t *output) {
    edgec_broadcast_cursor c = edgec_broadcast_start();
    const int32_t rows = edgec_broadcast_rows(p->shape);
    int16_t *out = output;
    for (int32_t r = 0; r < rows; r++, edgec_broadcast_next_row(&c, p->shape, p->stride1, p->stride2)) {
        for (int32_t i = 0; i < p->shape[5]; i++) {
            const int32_t prod = (int32_t)input1[c.offset1 + i * p->stride1[5]] *
                                 (int32_t)input2[c.offset2 + i * p->stride2[5]];
            *out++ = (int16_t)edgec_clamp(edgec_mbqm(prod, p->output_multiplier, p->output_shift), p->act_min,
                                          p->act_max);
        }
    }
}
