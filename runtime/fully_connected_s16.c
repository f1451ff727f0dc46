#include "fully_connected_s16.h"
#include "edgec_fixedpoint.h"

/* out[b,o] = clamp(MBQM64(bias[o] + sum_d w[o,d] * in[b,d], M, shift), act_min, act_max)     (16x8, TFLite Micro)
 * The sum is int64 as in TFLite Micro (an int16 x int8 product is below 2^22, so int64 never overflows for any
 * depth); the rescale is edgec_mbqm64 (one rounding, 16-bit multiplier).
 * Cost: one 16x8 multiply and one 64-bit add per MAC (two instructions on a 32-bit core: SMLAL), plus one 64-bit
 * multiply-shift per output. */
void edgec_fully_connected_s16(const edgec_fully_connected_s16_params *p, const int16_t *input, int16_t *output) {
    for (int32_t b = 0; b < p->batches; b++) {
        const int16_t *in = input + b * p->depth;
        for (int32_t o = 0; o < p->out_c; o++) {
            const int8_t *w = p->weights + o * p->depth;
            int64_t acc = p->bias ? p->bias[o] : 0;
            for (int32_t d = 0; d < p->depth; d++) {
                acc += (int32_t)w[d] * (int32_t)in[d];
            }
            const int32_t c = p->per_channel ? o : 0;
            const int32_t y = edgec_mbqm64(acc, p->multiplier[c], (int)p->shift[c]);
            output[b * p->out_c + o] = (int16_t)edgec_clamp(y, p->act_min, p->act_max);
        }
    }
}
