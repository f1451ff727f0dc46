#include <string.h>

#include "pad_s8.h"

static int inside(const edgec_pad_s8_params *p, int d, int32_t i) {
    return i >= p->before[d] && i < p->before[d] + p->in_dims[d];
}

/* Walk the output row by row (a row = the innermost dimension): a row outside the input along any outer
 * dimension is all padding, any other row is [before | one input row | after]. */
void edgec_pad_s8(const edgec_pad_s8_params *p, const int8_t *input, int8_t *output) {
    int32_t out_dims[5];
    for (int d = 0; d < 5; d++) out_dims[d] = p->before[d] + p->in_dims[d] + p->after[d];
    const size_t row = (size_t)out_dims[4];
    const size_t before = (size_t)p->before[4], copy = (size_t)p->in_dims[4], after = (size_t)p->after[4];
    const int value = (int)(int8_t)p->pad_value;
    const int8_t *in = input;
    int8_t *out = output;
    for (int32_t i0 = 0; i0 < out_dims[0]; i0++) {
        for (int32_t i1 = 0; i1 < out_dims[1]; i1++) {
            for (int32_t i2 = 0; i2 < out_dims[2]; i2++) {
                for (int32_t i3 = 0; i3 < out_dims[3]; i3++) {
                    if (inside(p, 0, i0) && inside(p, 1, i1) && inside(p, 2, i2) && inside(p, 3, i3)) {
                        memset(out, value, before);
                        memcpy(out + before, in, copy);
                        memset(out + before + copy, value, after);
                        in += copy;
                    } else {
                        memset(out, value, row);
                    }
                    out += row;
                }
            }
        }
    }
}
