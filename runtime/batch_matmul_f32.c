#include "batch_matmul_f32.h"

/* y[b, i, j] = sum_k A(b, i, k) * B(b, k, j), k ascending in one float from 0.0f.
 * Cost: rows * cols * depth multiply-adds per batch; each MAC loads one element of A and one of B (strided
 * when an operand is read across its stored rows: A with adj_x, B without adj_y). */
void edgec_batch_matmul_f32(const edgec_batch_matmul_f32_params *p, const float *a, const float *b, float *y) {
    const int32_t m = p->rows, k = p->depth, n = p->cols;
    /* element strides of A(i, k) and B(k, j) inside one matrix */
    const int32_t a_i = p->adj_x ? 1 : k, a_k = p->adj_x ? m : 1;
    const int32_t b_k = p->adj_y ? 1 : n, b_j = p->adj_y ? k : 1;
    for (int32_t b0 = 0; b0 < p->batch[0]; b0++)
        for (int32_t b1 = 0; b1 < p->batch[1]; b1++)
            for (int32_t b2 = 0; b2 < p->batch[2]; b2++) {
                const float *am = a + (b0 * p->a_stride[0] + b1 * p->a_stride[1] + b2 * p->a_stride[2]) * m * k;
                const float *bm = b + (b0 * p->b_stride[0] + b1 * p->b_stride[1] + b2 * p->b_stride[2]) * k * n;
                for (int32_t i = 0; i < m; i++)
                    for (int32_t j = 0; j < n; j++) {
                        float acc = 0.0f;
                        for (int32_t d = 0; d < k; d++) acc += am[i * a_i + d * a_k] * bm[d * b_k + j * b_j];
                        *y++ = acc;
                    }
            }
}
