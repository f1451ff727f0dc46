#ifndef EDGEC_FULLY_CONNECTED_S16_H
#define EDGEC_FULLY_CONNECTED_S16_H
#include <stdint.h>

/* 16x8 fully connected (int16 activations, zero point 0; int8 weights [out_c, depth]; int64 bias):
 * out[b,o] = clamp(MBQM64(bias[o] + sum_d w[o,d] * in[b,d], M[c], shift[c])), c = o per channel, else 0. */
typedef struct {
    int32_t batches, depth, out_c;
    int32_t act_min, act_max;
    int32_t per_channel;                    /* 0: multiplier[0]/shift[0] for all outputs */
    const int8_t *weights;
    const int64_t *bias;                    /* [out_c] or NULL */
    const int32_t *multiplier, *shift;
} edgec_fully_connected_s16_params;

void edgec_fully_connected_s16(const edgec_fully_connected_s16_params *p, const int16_t *input, int16_t *output);

#endif
