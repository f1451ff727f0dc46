#ifndef EDGEC_PAD_F32_H
#define EDGEC_PAD_F32_H
#include <stdint.h>

#include "edgec_float.h"

/* float32 PAD / PADV2 over up to 5 dimensions (shapes extended with leading 1s to exactly 5); padded positions
 * get pad_value. Output dim d = before[d] + in_dims[d] + after[d]. */
typedef struct {
    int32_t in_dims[5];
    int32_t before[5];
    int32_t after[5];
    float pad_value;
} edgec_pad_f32_params;

void edgec_pad_f32(const edgec_pad_f32_params *p, const float *input, float *output);

#endif
