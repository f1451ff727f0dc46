#ifndef EDGEC_RESIZE_NEAREST_H
#define EDGEC_RESIZE_NEAREST_H
#include <stdint.h>

/* RESIZE_NEAREST_NEIGHBOR, NHWC: out[b, oy, ox, :] = in[b, y_index[oy], x_index[ox], :]
 * (the source indices are computed by the compiler with TFLite's rounding rules) */
typedef struct {
    int32_t batches, in_h, in_w, channels; /* input  [batches, in_h, in_w, channels] */
    int32_t out_h, out_w;                  /* output [batches, out_h, out_w, channels] */
    const int32_t *y_index;                /* [out_h], each in [0, in_h) */
    const int32_t *x_index;                /* [out_w], each in [0, in_w) */
} edgec_resize_nearest_params;

void edgec_resize_nearest_s8(const edgec_resize_nearest_params *p, const int8_t *input, int8_t *output);
void edgec_resize_nearest_f32(const edgec_resize_nearest_params *p, const float *input, float *output);

#endif
