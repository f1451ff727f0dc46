#ifndef EDGEC_CONCAT_F32_H
#define EDGEC_CONCAT_F32_H
#include <stdint.h>

#include "edgec_float.h"

/* float32 CONCATENATION along one axis: the output is `outer` blocks; block k is, for each input i in order,
 * input i's k-th chunk of chunk[i] = dims_i[axis] * (product of the dims after axis) floats. */
typedef struct {
    int32_t outer;
    int32_t num_inputs;
    const int32_t *chunk;
} edgec_concat_f32_params;

void edgec_concat_f32(const edgec_concat_f32_params *p, const float *const *inputs, float *output);

#endif
