/* SQUARED_DIFFERENCE, int8: y = clamp(zp_y + MBQM(d * d, M_o, shift_o), -128, 127), where
 *     d = MBQM((q_1 - zp_1) * 2^7, M_1, shift_1) - MBQM((q_2 - zp_2) * 2^7, M_2, shift_2)
 * puts both inputs on the scale 2 max(s_1, s_2) / 2^7 (M_k / 2^31 * 2^shift_k = s_k / (2 max(s_1, s_2)) <= 1/2),
 * so |d| <= 255 * 2^7 < 2^15 and d * d fits in int32; M_o, shift_o rescale the square to the output
 * (ops/squared_difference.py derives the multipliers). Cost per output element: three fixed-point rescales
 * (a 32x32->64 multiply and a rounding shift each) and one 32-bit multiply. */
#include "squared_difference_s8.h"

#include "edgec_broadcast.h"
#include "edgec_fixedpoint.h"

static inline int32_t on_shared_scale(int32_t q, int32_t offset, int32_t multiplier, int32_t shift) {
    return edgec_mbqm((q + offset) * 128, multiplier, shift); /* |q + offset| <= 255: below 2^15 */
}

void edgec_squared_difference_s8(const edgec_squared_difference_s8_params *p, const int8_t *input1,
                                 const int8_t *input2, int8_t *output) {
    edgec_broadcast_cursor c = edgec_broadcast_start();
    const int32_t rows = edgec_broadcast_rows(p->shape);
    int8_t *out = output;
    for (int32_t r = 0; r < rows; r++, edgec_broadcast_next_row(&c, p->shape, p->stride1, p->stride2))
        for (int32_t i = 0; i < p->shape[5]; i++) {
            const int32_t v1 = on_shared_scale(input1[c.offset1 + i * p->stride1[5]], p->input1_offset,
                                               p->input1_multiplier, p->input1_shift);
            const int32_t v2 = on_shared_scale(input2[c.offset2 + i * p->stride2[5]], p->input2_offset,
                                               p->input2_multiplier, p->input2_shift);
            const int32_t d = v1 - v2;
            const int32_t y = edgec_wrap_add(edgec_mbqm(d * d, p->output_multiplier, p->output_shift),
                                             p->output_offset);
            *out++ = (int8_t)edgec_clamp(y, -128, 127);
        }
}
