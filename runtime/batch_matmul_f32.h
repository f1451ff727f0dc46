#ifndef EDGEC_BATCH_MATMUL_F32_H
#define EDGEC_BATCH_MATMUL_F32_H
#include <stdint.h>

#include "edgec_float.h"

/* float32 BATCH_MATMUL: Y[b] = A[b] x B[b] for every batch b of a 3-deep loop (batch[]); an operand steps
 * a_stride[d] / b_stride[d] whole matrices per step of batch dim d (0: it broadcasts). One product is M x K times
 * K x N (rows, depth, cols); adj_x: A is stored [K, M]; adj_y: B is stored [N, K]. */
typedef struct {
    int32_t batch[3];
    int32_t a_stride[3], b_stride[3];
    int32_t rows, depth, cols;
    int32_t adj_x, adj_y;
} edgec_batch_matmul_f32_params;

void edgec_batch_matmul_f32(const edgec_batch_matmul_f32_params *p, const float *a, const float *b, float *y);

#endif
