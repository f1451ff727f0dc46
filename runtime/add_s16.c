#include "add_s16.h"
#include "edgec_broadcast.h"
#include "edgec_fixedpoint.h"

/* y = clamp(MBQM(MBQM(q_1 * 2^15, M_1, s_1) + MBQM(q_2 * 2^15, M_2, s_2), M_y, s_y), act_min, act_max)
 * M_k, s_k from s_k / (2 max(s_1, s_2)) and M_y, s_y from 2 max(s_1, s_2) / (2^15 s_y), all below 1 (TFLite
 * Micro's int16 ADD, add_common's general-scale path). |q_k| <= 2^15 so q_k * 2^15 fits int32, each v_k is at
 * most half of it, and v_1 + v_2 cannot overflow. Cost: three double-rounding rescales (32x32->64 multiply,
 * rounding shift) per output element; no MACs. */
static inline int16_t add_one(const edgec_add_s16_params *p, int16_t a, int16_t b, int subtract) {
    const int32_t v1 = edgec_mbqm((int32_t)a * ((int32_t)1 << 15), p->input1_multiplier, p->input1_shift);
    const int32_t v2 = edgec_mbqm((int32_t)b * ((int32_t)1 << 15), p->input2_multiplier, p->input2_shift);
    const int32_t raw = subtract ? v1 - v2 : v1 + v2;
    return (int16_t)edgec_clamp(edgec_mbqm(raw, p->output_multiplier, p->output_shift), p->act_min, p->act_max);
}

static void add_sub(const edgec_add_s16_params *p, const int16_t *input1, const int16_t *input2, int16_t *output,
                    int subtract) {
    edgec_broadcast_cursor c = edgec_broadcast_start();
    const int32_t rows = edgec_broadcast_rows(p->shape);
    int16_t *out = output;
    for (int32_t r = 0; r < rows; r++, edgec_broadcast_next_row(&c, p->shape, p->stride1, p->stride2))
        for (int32_t i = 0; i < p->shape[5]; i++)
            *out++ = add_one(p, input1[c.offset1 + i * p->stride1[5]], input2[c.offset2 + i * p->stride2[5]],
                             subtract);
}

void edgec_add_s16(const edgec_add_s16_params *p, const int16_t *input1, const int16_t *input2, int16_t *output) {
    add_sub(p, input1, input2, output, 0);
}

/* SUB: the same with v_1 - v_2 (|v_k| <= 2^29: no overflow) */
void edgec_sub_s16(const edgec_add_s16_params *p, const int16_t *input1, const int16_t *input2, int16_t *output) {
    add_sub(p, input1, input2, output, 1);
}
