#include <string.h>

#include "pad_s16.h"

static int inside(const edgec_pad_s16_params *p, int d, int32_t i) {
    return i >= p->before[d] && i < p->before[d] + p->in_dims[d];
}

static void fill(int16_t *out, int32_t n, int16_t value) {
    for (int32_t i = 0; i < n; i++) out[i] = value;
}

/* Row by row (a row = the innermost dimension): a row outside the input along any outer dimension is all
 * padding, any other row is [before | one input row | after]. Cost: one store per output element. */
void edgec_pad_s16(const edgec_pad_s16_params *p, const int16_t *input, int16_t *output) {
    int32_t out_dims[5];
    for (int d = 0; d < 5; d++) out_dims[d] = p->before[d] + p->in_dims[d] + p->after[d];
    const int32_t row = out_dims[4], before = p->before[4], copy = p->in_dims[4], after = p->after[4];
    const int16_t value = (int16_t)p->pad_value;
    const int16_t *in = input;
    int16_t *out = output;
    for (int32_t i0 = 0; i0 < out_dims[0]; i0++)
        for (int32_t i1 = 0; i1 < out_dims[1]; i1++)
            for (int32_t i2 = 0; i2 < out_dims[2]; i2++)
                for (int32_t i3 = 0; i3 < out_dims[3]; i3++) {
                    if (inside(p, 0, i0) && inside(p, 1, i1) && inside(p, 2, i2) && inside(p, 3, i3)) {
                        fill(out, before, value);
                        memcpy(out + before, in, (size_t)copy * sizeof(int16_t));
                        fill(out + before + copy, after, value);
                        in += copy;
                    } else {
                        fill(out, row, value);
                    }
                    out += row;
                }
}
