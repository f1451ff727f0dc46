#include "batch_matmul_s8.h"

#include "edgec_fixedpoint.h"

/* acc[b, i, j] = sum_k (A(b, i, k) + lhs_offset) * (B(b, k, j) + rhs_offset)     int32, exact (depth <= 33025)
 * y = clamp(output_offset + MBQM(acc, multiplier, shift), -128, 127)               TFLM's double rounding
 * Cost: rows * cols * depth MACs per batch (two loads, two adds of the offsets, one multiply-add each), plus one
 * requantization per output. */
void edgec_batch_matmul_s8(const edgec_batch_matmul_s8_params *p, const int8_t *a, const int8_t *b, int8_t *y) {
    const int32_t m = p->rows, k = p->depth, n = p->cols;
    const int32_t a_i = p->adj_x ? 1 : k, a_k = p->adj_x ? m : 1;
    const int32_t b_k = p->adj_y ? 1 : n, b_j = p->adj_y ? k : 1;
    for (int32_t b0 = 0; b0 < p->batch[0]; b0++)
        for (int32_t b1 = 0; b1 < p->batch[1]; b1++)
            for (int32_t b2 = 0; b2 < p->batch[2]; b2++) {
                const int8_t *am = a + (b0 * p->a_stride[0] + b1 * p->a_stride[1] + b2 * p->a_stride[2]) * m * k;
                const int8_t *bm = b + (b0 * p->b_stride[0] + b1 * p->b_stride[1] + b2 * p->b_stride[2]) * k * n;
                for (int32_t i = 0; i < m; i++)
                    for (int32_t j = 0; j < n; j++) {
                        int32_t acc = 0;
                        for (int32_t d = 0; d < k; d++)
                            acc += (am[i * a_i + d * a_k] + p->lhs_offset) * (bm[d * b_k + j * b_j] + p->rhs_offset);
                        int32_t out = edgec_mbqm(acc, p->multiplier, p->shift) + p->output_offset;
                        *y++ = (int8_t)edgec_clamp(out, -128, 127);
                    }
            }
}
