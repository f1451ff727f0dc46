#ifndef EDGEC_SOFTMAX_F32_H
#define EDGEC_SOFTMAX_F32_H
#include <stdint.h>

#include "edgec_float.h"

/* float32 softmax over the last axis: `outer` rows of `depth` values. */
typedef struct {
    int32_t outer, depth;
    float beta;
} edgec_softmax_f32_params;

void edgec_softmax_f32(const edgec_softmax_f32_params *p, const float *input, float *output);

#endif
