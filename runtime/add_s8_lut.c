#include "add_s8_lut.h"
#include "edgec_broadcast.h"
#include "edgec_fixedpoint.h"

void edgec_add_s8_lut(const edgec_add_s8_params *p, const int32_t *table1, const int32_t *table2,
                      const int8_t *input1, const int8_t *input2, int8_t *output) {
    const int32_t *t1 = table1 + 128, *t2 = table2 + 128; /* indexed by the int8 value itself */
    edgec_broadcast_cursor c = edgec_broadcast_start();
    const int32_t rows = edgec_broadcast_rows(p->shape);
    const int32_t n = p->shape[5], s1 = p->stride1[5], s2 = p->stride2[5];
    int8_t *out = output;
    for (int32_t r = 0; r < rows; r++, edgec_broadcast_next_row(&c, p->shape, p->stride1, p->stride2)) {
        const int8_t *a = input1 + c.offset1, *b = input2 + c.offset2;
        for (int32_t i = 0; i < n; i++) {
            const int32_t raw = t1[a[i * s1]] + t2[b[i * s2]];
            const int32_t y = edgec_wrap_add(edgec_mbqm(raw, p->output_multiplier, p->output_shift),
                                             p->output_offset);
            *out++ = (int8_t)edgec_clamp(y, p->act_min, p->act_max);
        }
    }
}
