#ifndef EDGEC_MEAN_F32_H
#define EDGEC_MEAN_F32_H
#include <stdint.h>

#include "edgec_float.h"

/* float32 MEAN over any axes. The compiler folds the input into 4 kept loops (the output, in order) and 4
 * reduced loops, each with an input element stride (as edgec_mean_s8_params). */
typedef struct {
    int32_t out_shape[4], out_stride[4];
    int32_t red_shape[4], red_stride[4];
    int32_t count;  /* values per mean: the product of red_shape */
} edgec_mean_f32_params;

void edgec_mean_f32(const edgec_mean_f32_params *p, const float *input, float *output);

#endif
