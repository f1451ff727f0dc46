#include "attention_s8.h"

#include "edgec_fixedpoint.h"

/* Per batch b and query row i, into row[0..M) (int8):
 *   s_j = clamp(s_offset + MBQM(sum_d (Q[i, d] + q_offset) (K(d, j) + k_offset), s_multiplier, s_shift))
 *   s_j = clamp(mul_out_offset + MBQM((s_j + mul_offset) * mul_term, mul_multiplier, mul_shift))   (has_mul)
 *   row = softmax_s8(row)                                                   (the softmax kernel, in place)
 *   y[i, c] = clamp(y_offset + MBQM(sum_j (p_j + p_offset) (V(j, c) + v_offset), y_multiplier, y_shift))
 * The integer maths of batch_matmul_s8, mul_s8 and softmax_s8, so the result equals the chain's bit for bit.
 * Cost: N * M * (D + Dv) MACs per batch, as the chain; memory: M bytes instead of two N x M score tensors. */
void edgec_attention_s8(const edgec_attention_s8_params *p, const int8_t *q, const int8_t *k, const int8_t *v,
                        int8_t *y, int8_t *row) {
    const int32_t n = p->rows, d = p->depth, m = p->keys, dv = p->cols;
    const int32_t k_d = p->adj_k ? 1 : m, k_j = p->adj_k ? d : 1;
    const int32_t v_j = p->adj_v ? 1 : dv, v_c = p->adj_v ? m : 1;
    const edgec_softmax_s8_params sm = {1, m, p->input_multiplier, p->input_left_shift, p->diff_min};
    for (int32_t b0 = 0; b0 < p->batch[0]; b0++)
        for (int32_t b1 = 0; b1 < p->batch[1]; b1++)
            for (int32_t b2 = 0; b2 < p->batch[2]; b2++) {
                const int8_t *qm = q + (b0 * p->q_stride[0] + b1 * p->q_stride[1] + b2 * p->q_stride[2]) * n * d;
                const int8_t *km = k + (b0 * p->k_stride[0] + b1 * p->k_stride[1] + b2 * p->k_stride[2]) * d * m;
                const int8_t *vm = v + (b0 * p->v_stride[0] + b1 * p->v_stride[1] + b2 * p->v_stride[2]) * m * dv;
                for (int32_t i = 0; i < n; i++) {
                    for (int32_t j = 0; j < m; j++) {
                        int32_t acc = 0;
                        for (int32_t t = 0; t < d; t++)
                            acc += (qm[i * d + t] + p->q_offset) * (km[t * k_d + j * k_j] + p->k_offset);
                        int32_t s = edgec_clamp(edgec_mbqm(acc, p->s_multiplier, p->s_shift) + p->s_offset, -128, 127);
                        if (p->has_mul) {
                            const int32_t prod = (s + p->mul_offset) * p->mul_term;
                            s = edgec_clamp(edgec_wrap_add(edgec_mbqm(prod, p->mul_multiplier, p->mul_shift),
                                                           p->mul_out_offset),
                                            p->mul_min, p->mul_max);
                        }
                        row[j] = (int8_t)s;
                    }
                    edgec_softmax_s8(&sm, row, row);
                    for (int32_t c = 0; c < dv; c++) {
                        int32_t acc = 0;
                        for (int32_t j = 0; j < m; j++) acc += (row[j] + p->p_offset) * (vm[j * v_j + c * v_c] + p->v_offset);
                        const int32_t out = edgec_mbqm(acc, p->y_multiplier, p->y_shift) + p->y_offset;
                        *y++ = (int8_t)edgec_clamp(out, -128, 127);
                    }
                }
            }
}
