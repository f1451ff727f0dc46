#include "add_f32.h"
#include "edgec_broadcast.h"

/* y = clamp(x1 + x2) or clamp(x1 - x2), one float operation per element: exact IEEE rounding, no order. */
static void add_sub(const edgec_add_f32_params *p, const float *input1, const float *input2, float *output,
                    int subtract) {
    edgec_broadcast_cursor c = edgec_broadcast_start();
    const int32_t rows = edgec_broadcast_rows(p->shape);
    float *out = output;
    for (int32_t r = 0; r < rows; r++, edgec_broadcast_next_row(&c, p->shape, p->stride1, p->stride2))
        for (int32_t i = 0; i < p->shape[5]; i++) {
            const float a = input1[c.offset1 + i * p->stride1[5]], b = input2[c.offset2 + i * p->stride2[5]];
            *out++ = edgec_clampf(subtract ? a - b : a + b, p->act_min, p->act_max);
        }
}

void edgec_add_f32(const edgec_add_f32_params *p, const float *input1, const float *input2, float *output) {
    add_sub(p, input1, input2, output, 0);
}

void edgec_sub_f32(const edgec_add_f32_params *p, const float *input1, const float *input2, float *output) {
    add_sub(p, input1, input2, output, 1);
}
