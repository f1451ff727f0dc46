#ifndef EDGEC_FULLY_CONNECTED_F32_H
#define EDGEC_FULLY_CONNECTED_F32_H
#include <stdint.h>

#include "edgec_float.h"

/* float32 fully connected: input [batches, depth], weights [out_c, depth], optional bias, fused activation. */
typedef struct {
    int32_t batches, depth, out_c;
    float act_min, act_max;
    const float *weights;
    const float *bias;   /* [out_c] or NULL */
} edgec_fully_connected_f32_params;

void edgec_fully_connected_f32(const edgec_fully_connected_f32_params *p, const float *input, float *output);

#endif
