#include "mean_f32.h"

/* y = (sum of the reduced values, in row-major order of the reduced axes, in one float) / count */
void edgec_mean_f32(const edgec_mean_f32_params *p, const float *input, float *output) {
    const int32_t *n = p->out_shape, *s = p->out_stride, *rn = p->red_shape, *rs = p->red_stride;
    float *out = output;
    for (int32_t o0 = 0; o0 < n[0]; o0++)
        for (int32_t o1 = 0; o1 < n[1]; o1++)
            for (int32_t o2 = 0; o2 < n[2]; o2++)
                for (int32_t o3 = 0; o3 < n[3]; o3++) {
                    const float *base = input + o0 * s[0] + o1 * s[1] + o2 * s[2] + o3 * s[3];
                    float sum = 0.0f;
                    for (int32_t r0 = 0; r0 < rn[0]; r0++)
                        for (int32_t r1 = 0; r1 < rn[1]; r1++)
                            for (int32_t r2 = 0; r2 < rn[2]; r2++) {
                                const float *row = base + r0 * rs[0] + r1 * rs[1] + r2 * rs[2];
                                for (int32_t r3 = 0; r3 < rn[3]; r3++) sum += row[r3 * rs[3]];
                            }
                    *out++ = sum / (float)p->count;
                }
}
