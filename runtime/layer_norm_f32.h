#ifndef EDGEC_LAYER_NORM_F32_H
#define EDGEC_LAYER_NORM_F32_H
#include <stdint.h>

#include "edgec_float.h"

/* float32 layer normalization: `outer` rows of `inner` values, each normalized to mean 0 and variance 1, then
 * y = x_hat * gamma + beta (gamma, beta: `inner` values in flash; beta may be NULL). mean and inv_std, when not
 * NULL, receive each row's mean and 1 / sqrt(var + epsilon) (ONNX's optional Mean and InvStdDev outputs). */
typedef struct {
    int32_t outer, inner;
    float epsilon;
    const float *gamma;
    const float *beta;
} edgec_layer_norm_f32_params;

void edgec_layer_norm_f32(const edgec_layer_norm_f32_params *p, const float *input, float *output, float *mean,
                          float *inv_std);

#endif
