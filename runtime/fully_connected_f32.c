#include "fully_connected_f32.h"

/* out[b,o] = clamp(sum_d in[b,d] * w[o,d] + bias[o]), d ascending in one float, then the bias. */
void edgec_fully_connected_f32(const edgec_fully_connected_f32_params *p, const float *input, float *output) {
    for (int32_t b = 0; b < p->batches; b++) {
        const float *in = input + b * p->depth;
        for (int32_t o = 0; o < p->out_c; o++) {
            const float *w = p->weights + o * p->depth;
            float acc = 0.0f;
            for (int32_t d = 0; d < p->depth; d++) acc += in[d] * w[d];
            if (p->bias) acc += p->bias[o];
            output[b * p->out_c + o] = edgec_clampf(acc, p->act_min, p->act_max);
        }
    }
}
