#ifndef EDGEC_MUL_F32_H
#define EDGEC_MUL_F32_H
#include <stdint.h>

#include "edgec_float.h"

/* float32 MUL with numpy broadcasting (the loop nest of edgec_broadcast.h), fused activation clamp. */
typedef struct {
    int32_t shape[6];
    int32_t stride1[6];
    int32_t stride2[6];
    float act_min, act_max;
} edgec_mul_f32_params;

void edgec_mul_f32(const edgec_mul_f32_params *p, const float *input1, const float *input2, float *output);

#endif
