#ifndef EDGEC_POOL2D_S16_H
#define EDGEC_POOL2D_S16_H
#include <stdint.h>

/* 16x8 average and max pooling (int16, zero point 0) over k_h x k_w windows; input and output share scale. */
typedef struct {
    int32_t batches, in_h, in_w, channels;
    int32_t out_h, out_w;
    int32_t k_h, k_w, stride_h, stride_w;
    int32_t pad_top, pad_left;
    int32_t act_min, act_max;
} edgec_pool2d_s16_params;

void edgec_avg_pool2d_s16(const edgec_pool2d_s16_params *p, const int16_t *input, int16_t *output);
void edgec_max_pool2d_s16(const edgec_pool2d_s16_params *p, const int16_t *input, int16_t *output);

#endif
