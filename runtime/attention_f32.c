#include "attention_f32.h"

#include <float.h>

/* Per batch b and query row i, into row[0..M):
 *   s_j = sum_d Q[i, d] K(d, j)            (d ascending, from 0.0f: batch_matmul_f32's order)
 *   s_j = clamp(s_j * scale); s_j = clamp(s_j + mask[i, j])     (mul_f32 and add_f32 with no fused activation)
 *   p_j = expf((s_j - max) * beta) / sum   (softmax_f32)
 *   y[i, c] = sum_j p_j V(j, c)            (j ascending, from 0.0f)
 * The same float operations in the same order as the chain of kernels it replaces: bit-identical results.
 * Cost: N * M * (D + Dv) MACs per batch, as the chain; memory: M floats instead of two N x M score tensors. */
void edgec_attention_f32(const edgec_attention_f32_params *p, const float *q, const float *k, const float *v,
                         float *y, float *row) {
    const int32_t n = p->rows, d = p->depth, m = p->keys, dv = p->cols;
    const int32_t k_d = p->adj_k ? 1 : m, k_j = p->adj_k ? d : 1;   /* K(d, j) */
    const int32_t v_j = p->adj_v ? 1 : dv, v_c = p->adj_v ? m : 1;  /* V(j, c) */
    for (int32_t b0 = 0; b0 < p->batch[0]; b0++)
        for (int32_t b1 = 0; b1 < p->batch[1]; b1++)
            for (int32_t b2 = 0; b2 < p->batch[2]; b2++) {
                const float *qm = q + (b0 * p->q_stride[0] + b1 * p->q_stride[1] + b2 * p->q_stride[2]) * n * d;
                const float *km = k + (b0 * p->k_stride[0] + b1 * p->k_stride[1] + b2 * p->k_stride[2]) * d * m;
                const float *vm = v + (b0 * p->v_stride[0] + b1 * p->v_stride[1] + b2 * p->v_stride[2]) * m * dv;
                const float *mask = p->mask ? p->mask + b0 * p->mask_stride[0] + b1 * p->mask_stride[1] +
                                                  b2 * p->mask_stride[2]
                                            : 0;
                for (int32_t i = 0; i < n; i++) {
                    for (int32_t j = 0; j < m; j++) {
                        float acc = 0.0f;
                        for (int32_t t = 0; t < d; t++) acc += qm[i * d + t] * km[t * k_d + j * k_j];
                        if (p->has_scale) acc = edgec_clampf(acc * p->scale, -FLT_MAX, FLT_MAX);
                        if (mask) acc = edgec_clampf(acc + mask[i * p->mask_row + j * p->mask_col], -FLT_MAX, FLT_MAX);
                        row[j] = acc;
                    }
                    float mx = row[0];
                    for (int32_t j = 1; j < m; j++) mx = row[j] > mx ? row[j] : mx;
                    float sum = 0.0f;
                    for (int32_t j = 0; j < m; j++) {
                        row[j] = expf((row[j] - mx) * p->beta);
                        sum += row[j];
                    }
                    for (int32_t j = 0; j < m; j++) row[j] = row[j] / sum;
                    for (int32_t c = 0; c < dv; c++) {
                        float acc = 0.0f;
                        for (int32_t j = 0; j < m; j++) acc += row[j] * vm[j * v_j + c * v_c];
                        *y++ = acc;
                    }
                }
            }
}
