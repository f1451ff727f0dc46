#ifndef EDGEC_SLICE_H
#define EDGEC_SLICE_H
#include <stdint.h>

/* SLICE as a 6-deep loop nest over the output, in output order, from input element `offset`; loop k runs
 * shape[k] times and steps stride[k] elements (signed) through the input. */
typedef struct {
    int32_t offset;
    int32_t shape[6];
    int32_t stride[6];
} edgec_slice_params;

void edgec_slice_s8(const edgec_slice_params *p, const int8_t *input, int8_t *output);
void edgec_slice_s16(const edgec_slice_params *p, const int16_t *input, int16_t *output);
void edgec_slice_f32(const edgec_slice_params *p, const float *input, float *output);

#endif
