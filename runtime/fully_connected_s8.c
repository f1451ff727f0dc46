#include "fully_connected_s8.h"
#include "edgec_fixedpoint.h"

void edgec_fully_connected_s8(const edgec_fully_connected_s8_params *p, const int8_t *input, int8_t *output) {
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *in = input + b * p->depth;
        for (int32_t o = 0; o < p->out_c; o++) {
            const int8_t *w = p->weights + o * p->depth;
            int32_t acc = 0;
            for (int32_t d = 0; d < p->depth; d++) {
                acc += (int32_t)w[d] * ((int32_t)in[d] + p->input_offset);
            }
            if (p->bias) acc += p->bias[o];
            const int32_t c = p->per_channel ? o : 0;
            acc = edgec_requantize(acc, p->multiplier[c], p->shift[c], p->rounding) + p->output_offset;
            output[b * p->out_c + o] = (int8_t)edgec_clamp(acc, p->act_min, p->act_max);
        }
    }
}
