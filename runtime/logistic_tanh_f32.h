#ifndef EDGEC_LOGISTIC_TANH_F32_H
#define EDGEC_LOGISTIC_TANH_F32_H
#include <stdint.h>

#include "edgec_float.h"

/* float32 LOGISTIC and TANH, elementwise over `size` values. */
typedef struct {
    int32_t size;
} edgec_logistic_tanh_f32_params;

void edgec_logistic_f32(const edgec_logistic_tanh_f32_params *p, const float *input, float *output);
void edgec_tanh_f32(const edgec_logistic_tanh_f32_params *p, const float *input, float *output);

#endif
