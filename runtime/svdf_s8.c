/* SVDF, int8 input/output, int16 state and time weights (toolchain/ops/svdf.py has the whole formula):
 *   shift each filter's history one frame left;
 *   S[b,f,M-1] = zp_S + clamp16(MBQM(sum_c Wf[f,c] (x[b,c] - zp_x), M1, e1));
 *   t[b,f] = sum_m Wt[f,m] (S[b,f,m] - zp_S)    (int32, wrapping);
 *   y[b,u] = clamp8(MBQM(bias[u] + sum_r t[b,u*rank+r], M2, e2) + zp_y).
 * Cost per output unit: rank * (input_size + memory) MACs and rank * memory int16 moves. No scratch: one filter's
 * feature, history and time product are done before the next filter. */
#include "svdf_s8.h"
#include "edgec_fixedpoint.h"

/* an int32 sum that wraps like TFLite's int32 accumulators (signed overflow is undefined in C) */
static inline int32_t svdf_wrap_mac(int32_t acc, int32_t a, int32_t b) {
    return (int32_t)((uint32_t)acc + (uint32_t)((int64_t)a * b));
}

void edgec_svdf_s8(const edgec_svdf_s8_params *p, const int8_t *input, int16_t *state, int8_t *output) {
    const int32_t units = p->filters / p->rank;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *x = input + b * p->input_size;
        for (int32_t u = 0; u < units; u++) {
            int32_t acc = p->bias[u];
            for (int32_t r = 0; r < p->rank; r++) {
                const int32_t f = u * p->rank + r;
                int16_t *s = state + (b * p->filters + f) * p->memory;
                for (int32_t m = 0; m + 1 < p->memory; m++) s[m] = s[m + 1];
                const int8_t *wf = p->weights_feature + f * p->input_size;
                int32_t d = 0;
                for (int32_t c = 0; c < p->input_size; c++) d += (int32_t)wf[c] * ((int32_t)x[c] + p->input_offset);
                d = edgec_clamp(edgec_mbqm(d, p->feature_multiplier, p->feature_shift), -32768, 32767);
                s[p->memory - 1] = (int16_t)(uint16_t)(uint32_t)(d + p->state_offset); /* stored as TFLM stores it */
                const int16_t *wt = p->weights_time + f * p->memory;
                int32_t t = 0; /* |Wt * (S - zp)| < 2^32: the product fits int32, the sum may wrap */
                for (int32_t m = 0; m < p->memory; m++) {
                    t = svdf_wrap_mac(t, wt[m], (int32_t)s[m] - p->state_offset);
                }
                acc = (int32_t)((uint32_t)acc + (uint32_t)t);
            }
            const int32_t y = edgec_mbqm(acc, p->output_multiplier, p->output_shift) + p->output_offset;
            output[b * units + u] = (int8_t)edgec_clamp(y, -128, 127);
        }
    }
}
