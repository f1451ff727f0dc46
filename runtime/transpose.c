#include "transpose.h"

/* out[...] = in[i0*stride[0] + ... + i5*stride[5]], the output written in order */
#define EDGEC_TRANSPOSE_BODY                                                                                   \
    const int32_t *n = p->shape, *s = p->stride;                                                               \
    for (int32_t i0 = 0; i0 < n[0]; i0++)                                                                      \
        for (int32_t i1 = 0; i1 < n[1]; i1++)                                                                  \
            for (int32_t i2 = 0; i2 < n[2]; i2++)                                                              \
                for (int32_t i3 = 0; i3 < n[3]; i3++)                                                          \
                    for (int32_t i4 = 0; i4 < n[4]; i4++) {                                                    \
                        const int32_t base = i0 * s[0] + i1 * s[1] + i2 * s[2] + i3 * s[3] + i4 * s[4];        \
                        for (int32_t i5 = 0; i5 < n[5]; i5++) *output++ = input[base + i5 * s[5]];             \
                    }

void edgec_transpose_s8(const edgec_transpose_params *p, const int8_t *input, int8_t *output) {
    EDGEC_TRANSPOSE_BODY
}

/* int16 (16x8 models): the same moves, two bytes an element */
void edgec_transpose_s16(const edgec_transpose_params *p, const int16_t *input, int16_t *output) {
    EDGEC_TRANSPOSE_BODY
}

void edgec_transpose_f32(const edgec_transpose_params *p, const float *input, float *output) {
    EDGEC_TRANSPOSE_BODY
}
