#include "add_s8.h"
#include "edgec_broadcast.h"
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
    const int32_t out = edgec_wrap_add(edgec_mbqm(raw, p->output_multiplier, p->output_shift),
                                           p->output_offset);
    return (int8_t)edgec_clamp(out, p->act_min, p->act_max);
}

static void add_sub(const edgec_add_s8_params *p, const int8_t *input1, const int8_t *input2, int8_t *output,
                    int subtract) {
    edgec_broadcast_cursor c = edgec_broadcast_start();
    const int32_t rows = edgec_broadcast_rows(p->shape);
    int8_t *out = output;
    for (int32_t r = 0; r < rows; r++, edgec_broadcast_next_row(&c, p->shape, p->stride1, p->stride2))
        for (int32_t i = 0; i < p->shape[5]; i++)
            *out++ = add_sub_one(p, input1[c.offset1 + i * p->stride1[5]],
                                    input2[c.offset2 + i * p->stride2[5]], subtract);
}

void edgec_add_s8(const edgec_add_s8_params *p, const int8_t *input1, const int8_t *input2, int8_t *output) {
    add_sub(p, input1, input2, output, 0);
}

void edgec_sub_s8(const edgec_add_s8_params *p, const int8_t *input1, const int8_t *input2, int8_t *output) {
    add_sub(p, input1, input2, output, 1);
}
