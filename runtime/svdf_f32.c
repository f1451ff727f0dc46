/* SVDF in float32 (toolchain/ops/svdf.py): shift each filter's history one frame left,
 *   S[b,f,M-1] = sum_c Wf[f,c] x[b,c];  t[b,f] = sum_m Wt[f,m] S[b,f,m];  y[b,u] = act(bias[u] + sum_r t[b,u*rank+r]),
 * every sum in one float, in index order. Cost per output unit: rank * (input_size + memory) MACs. */
#include "svdf_f32.h"

void edgec_svdf_f32(const edgec_svdf_f32_params *p, const float *input, float *state, float *output) {
    const int32_t units = p->filters / p->rank;
    for (int32_t b = 0; b < p->batches; b++) {
        const float *x = input + b * p->input_size;
        for (int32_t u = 0; u < units; u++) {
            float sum = 0.0f;
            for (int32_t r = 0; r < p->rank; r++) {
                const int32_t f = u * p->rank + r;
                float *s = state + (b * p->filters + f) * p->memory;
                for (int32_t m = 0; m + 1 < p->memory; m++) s[m] = s[m + 1];
                const float *wf = p->weights_feature + f * p->input_size;
                float d = 0.0f;
                for (int32_t c = 0; c < p->input_size; c++) d += wf[c] * x[c];
                s[p->memory - 1] = d;
                const float *wt = p->weights_time + f * p->memory;
                float t = 0.0f;
                for (int32_t m = 0; m < p->memory; m++) t += wt[m] * s[m];
                sum += t;
            }
            output[b * units + u] = edgec_clampf(p->bias[u] + sum, p->act_min, p->act_max);
        }
    }
}
