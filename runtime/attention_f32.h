#ifndef EDGEC_ATTENTION_F32_H
#define EDGEC_ATTENTION_F32_H
#include <stdint.h>

#include "edgec_float.h"

/* float32 attention, one query row at a time: Y[b] = softmax(Q[b] K[b]^T * scale + mask[b]) V[b] over a 3-deep
 * batch loop; each operand steps *_stride[d] whole matrices per step of batch dim d (0: it broadcasts), the mask
 * mask_stride[d] elements (and mask_row, mask_col inside one batch's N x M). Q is [N, D]; K is stored [D, M]
 * (adj_k: [M, D]); V [M, Dv] (adj_v: [Dv, M]). `row` is scratch for M floats. */
typedef struct {
    int32_t batch[3];
    int32_t q_stride[3], k_stride[3], v_stride[3];
    int32_t rows, depth, keys, cols;
    int32_t adj_k, adj_v;
    int32_t has_scale;
    float scale, beta;
    const float *mask;
    int32_t mask_stride[3];
    int32_t mask_row, mask_col;
} edgec_attention_f32_params;

void edgec_attention_f32(const edgec_attention_f32_params *p, const float *q, const float *k, const float *v,
                         float *y, float *row);

#endif
