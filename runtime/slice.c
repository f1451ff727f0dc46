#include "slice.h"

/* out[...] = in[offset + i0*stride[0] + ... + i5*stride[5]], the output written in order.
 * Cost: one load and one store per output element. */
#define EDGEC_SLICE_BODY                                                                                       \
    const int32_t *n = p->shape, *s = p->stride;                                                               \
    const int32_t o = p->offset;                                                                               \
    for (int32_t i0 = 0; i0 < n[0]; i0++)                                                                      \
        for (int32_t i1 = 0; i1 < n[1]; i1++)                                                                  \
            for (int32_t i2 = 0; i2 < n[2]; i2++)                                                              \
                for (int32_t i3 = 0; i3 < n[3]; i3++)                                                          \
                    for (int32_t i4 = 0; i4 < n[4]; i4++) {                                                    \
                        const int32_t base = o + i0 * s[0] + i1 * s[1] + i2 * s[2] + i3 * s[3] + i4 * s[4];    \
                        for (int32_t i5 = 0; i5 < n[5]; i5++) *output++ = input[base + i5 * s[5]];             \
                    }

void edgec_slice_s8(const edgec_slice_params *p, const int8_t *input, int8_t *output) {
    EDGEC_SLICE_BODY
}

void edgec_slice_s16(const edgec_slice_params *p, const int16_t *input, int16_t *output) {
    EDGEC_SLICE_BODY
}

void edgec_slice_f32(const edgec_slice_params *p, const float *input, float *output) {
    EDGEC_SLICE_BODY
}
