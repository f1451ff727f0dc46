#ifndef EDGEC_TRANSPOSE_H
#define EDGEC_TRANSPOSE_H
#include <stdint.h>

/* TRANSPOSE as a 6-deep loop nest over the output, in output order; loop k runs shape[k] times and steps
 * stride[k] elements through the input (the compiler folds and pads the permutation into this form). */
typedef struct {
    int32_t shape[6];
    int32_t stride[6];
} edgec_transpose_params;

void edgec_transpose_s8(const edgec_transpose_params *p, const int8_t *input, int8_t *output);
void edgec_transpose_s16(const edgec_transpose_params *p, const int16_t *input, int16_t *output);
void edgec_transpose_f32(const edgec_transpose_params *p, const float *input, float *output);

#endif
