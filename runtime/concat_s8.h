#ifndef EDGEC_CONCAT_S8_H
#define EDGEC_CONCAT_S8_H
#include <stdint.h>

/* int8 CONCATENATION along one axis; inputs and output share scale and zero point (TFLM requires it), so
 * bytes are copied unchanged. The output is `outer` blocks; block k is, for each input i in order,
 * input i's k-th chunk of chunk[i] = dims_i[axis] * (product of the dims after axis) bytes. */
typedef struct {
    int32_t outer;
    int32_t num_inputs;
    const int32_t *chunk;
} edgec_concat_s8_params;

void edgec_concat_s8(const edgec_concat_s8_params *p, const int8_t *const *inputs, int8_t *output);

#endif
