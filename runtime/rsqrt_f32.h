#ifndef EDGEC_RSQRT_F32_H
#define EDGEC_RSQRT_F32_H
#include <stdint.h>

void edgec_rsqrt_f32(int32_t size, const float *input, float *output);

#endif
