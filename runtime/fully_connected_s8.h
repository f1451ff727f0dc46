#ifndef EDGEC_FULLY_CONNECTED_S8_H
#define EDGEC_FULLY_CONNECTED_S8_H
#include <stdint.h>

/* int8 fully connected: out[b,o] = rescale(bias[o] + sum_d w[o,d] * (in[b,d] - zp_in)).
 * Weights [out_c, depth]; per-tensor or per-channel requantization (n_multipliers = 1 or out_c). */
typedef struct {
    int32_t batches, depth, out_c;
    int32_t input_offset, output_offset;
    int32_t act_min, act_max;
    int32_t per_channel;                    /* 0: multiplier[0]/shift[0] for all outputs */
    const int8_t *weights;
    const int32_t *bias;                    /* [out_c] or NULL */
    const int32_t *multiplier, *shift;
    int32_t rounding;                       /* 0: TFLite's MBQM, 1: onnxruntime's float32 rescale
                                               (edgec_requantize_f32, multiplier * 2^shift = the scale) */
} edgec_fully_connected_s8_params;

void edgec_fully_connected_s8(const edgec_fully_connected_s8_params *p, const int8_t *input, int8_t *output);

#endif
