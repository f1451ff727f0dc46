/* 16x8 MEAN: y = clamp(MBQM(sum of the reduced int16 values, M', s'), int16), M', s' = the rescale s_x / s_y with
 * the division by the count folded in (toolchain/ops/mean.py). Cost: one add per input element, one rescale per
 * output element. */
#include "mean_s16.h"
#include "edgec_fixedpoint.h"

static int32_t reduced_sum(const edgec_mean_s16_params *p, const int16_t *base) {
    const int32_t *n = p->red_shape, *s = p->red_stride;
    int32_t sum = 0;
    for (int32_t r0 = 0; r0 < n[0]; r0++)
        for (int32_t r1 = 0; r1 < n[1]; r1++)
            for (int32_t r2 = 0; r2 < n[2]; r2++) {
                const int16_t *row = base + r0 * s[0] + r1 * s[1] + r2 * s[2];
                for (int32_t r3 = 0; r3 < n[3]; r3++) sum = edgec_wrap_add(sum, row[r3 * s[3]]);
            }
    return sum;
}

void edgec_mean_s16(const edgec_mean_s16_params *p, const int16_t *input, int16_t *output) {
    const int32_t *n = p->out_shape, *s = p->out_stride;
    int16_t *out = output;
    for (int32_t o0 = 0; o0 < n[0]; o0++)
        for (int32_t o1 = 0; o1 < n[1]; o1++)
            for (int32_t o2 = 0; o2 < n[2]; o2++)
                for (int32_t o3 = 0; o3 < n[3]; o3++) {
                    const int16_t *base = input + o0 * s[0] + o1 * s[1] + o2 * s[2] + o3 * s[3];
                    const int32_t sum = reduced_sum(p, base);
                    *out++ = (int16_t)edgec_clamp(edgec_mbqm(sum, p->multiplier, p->shift), -32768, 32767);
                }
}
