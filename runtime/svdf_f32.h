#ifndef EDGEC_SVDF_F32_H
#define EDGEC_SVDF_F32_H
#include <stdint.h>

#include "edgec_float.h"

/* float32 SVDF with a float state [batches, filters * memory] kept by the caller between invocations. */
typedef struct {
    int32_t batches, input_size, filters, memory, rank;
    float act_min, act_max;
    const float *weights_feature; /* [filters, input_size] */
    const float *weights_time;    /* [filters, memory] */
    const float *bias;            /* [filters / rank] */
} edgec_svdf_f32_params;

void edgec_svdf_f32(const edgec_svdf_f32_params *p, const float *input, float *state, float *output);

#endif
