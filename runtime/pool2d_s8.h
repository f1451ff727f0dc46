#ifndef EDGEC_POOL2D_S8_H
#define EDGEC_POOL2D_S8_H
#include <stdint.h>

#include "edgec_region.h"

/* int8 average and max pooling over k_h x k_w windows; input and output share scale and zero point. */
typedef struct {
    int32_t batches, in_h, in_w, channels;
    int32_t out_h, out_w;
    int32_t k_h, k_w, stride_h, stride_w;
    int32_t pad_top, pad_left;
    int32_t act_min, act_max;
} edgec_pool2d_s8_params;

void edgec_avg_pool2d_s8(const edgec_pool2d_s8_params *p, const int8_t *input, int8_t *output);
void edgec_max_pool2d_s8(const edgec_pool2d_s8_params *p, const int8_t *input, int8_t *output);
/* the same over one region of the layer (patch-based inference); the calls above are the whole-tensor region */
void edgec_avg_pool2d_s8_region(const edgec_pool2d_s8_params *p, const edgec_region *r, const int8_t *input,
                                int8_t *output);
void edgec_max_pool2d_s8_region(const edgec_pool2d_s8_params *p, const edgec_region *r, const int8_t *input,
                                int8_t *output);

#endif
