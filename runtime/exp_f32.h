#ifndef EDGEC_EXP_F32_H
#define EDGEC_EXP_F32_H
#include <stdint.h>

void edgec_exp_f32(int32_t size, const float *input, float *output);

#endif
