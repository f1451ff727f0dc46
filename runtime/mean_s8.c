#include "mean_s8.h"
#include "edgec_fixedpoint.h"

/* Sum of one mean's inputs. TFLite accumulates in int32 with wraparound (edgec_wrap_add: no signed-overflow
 * UB), though with int8 values it cannot wrap below 2^24 values per mean. */
static int32_t reduced_sum(const edgec_mean_s8_params *p, const int8_t *base) {
    const int32_t *n = p->red_shape, *s = p->red_stride;
    int32_t sum = 0;
    for (int32_t r0 = 0; r0 < n[0]; r0++)
        for (int32_t r1 = 0; r1 < n[1]; r1++)
            for (int32_t r2 = 0; r2 < n[2]; r2++) {
                const int8_t *row = base + r0 * s[0] + r1 * s[1] + r2 * s[2];
                for (int32_t r3 = 0; r3 < n[3]; r3++) sum = edgec_wrap_add(sum, row[r3 * s[3]]);
            }
    return sum;
}

static int8_t finish_mean(const edgec_mean_s8_params *p, int32_t sum) {
    /* sum - zp * count, computed wide and truncated to int32 as TFLite does */
    const int64_t centered = (int64_t)sum - (int64_t)p->input_zero_point * (int64_t)p->count;
    const int32_t shifted = (int32_t)(uint32_t)(uint64_t)centered;
    const int32_t out = edgec_wrap_add(edgec_requantize(shifted, p->multiplier, p->shift, p->rounding),
                                           p->output_zero_point);
    return (int8_t)edgec_clamp(out, -128, 127);
}

void edgec_mean_s8(const edgec_mean_s8_params *p, const int8_t *input, int8_t *output) {
    const int32_t *n = p->out_shape, *s = p->out_stride;
    int8_t *out = output;
    for (int32_t o0 = 0; o0 < n[0]; o0++)
        for (int32_t o1 = 0; o1 < n[1]; o1++)
            for (int32_t o2 = 0; o2 < n[2]; o2++)
                for (int32_t o3 = 0; o3 < n[3]; o3++) {
                    const int8_t *base = input + o0 * s[0] + o1 * s[1] + o2 * s[2] + o3 * s[3];
                    *out++ = finish_mean(p, reduced_sum(p, base));
                }
}
