/* SQUARED_DIFFERENCE, float32: d = x1 - x2, y = d * d, two IEEE float32 operations per element (no order,
 * no accumulation: bit-identical to any IEEE implementation that does the same two operations). Cost per output
 * element: one subtract, one multiply. */
#include "squared_difference_f32.h"

#include "edgec_broadcast.h"

void edgec_squared_difference_f32(const edgec_squared_difference_f32_params *p, const float *input1,
                                  const float *input2, float *output) {
    edgec_broadcast_cursor c = edgec_broadcast_start();
    const int32_t rows = edgec_broadcast_rows(p->shape);
    float *out = output;
    for (int32_t r = 0; r < rows; r++, edgec_broadcast_next_row(&c, p->shape, p->stride1, p->stride2))
        for (int32_t i = 0; i < p->shape[5]; i++) {
            const float d = input1[c.offset1 + i * p->stride1[5]] - input2[c.offset2 + i * p->stride2[5]];
            *out++ = d * d;
        }
}
