#include "fully_connected_s8_backward.h"
#include "edgec_train.h"

/* With g_acc[b,o] = (mask(b,o) ? g_y[b,o] : 0) * acc_scale[o] (the gradient of the int32 accumulator, real units):
 *   g_x[b,i]  = inv_sx * sum_{o asc} (float)w[o,i] * g_acc[b,o]
 *   G[o,i]    = sum_{b asc} g_acc[b,o] * (float)(x[b,i] - zp_x)
 *   w[o,i]    = update(w, G * coef_w[o])  for o asc, i < weight_channels asc
 *   bias[o]   = update_bias(bias, (sum_{b asc} g_acc[b,o]) * coef_b[o], bias_max[o])
 * With momentum or fp32 shadow weights (the state pointers set) `update` is edgec_update_weight and the bias's
 * step goes through edgec_momentum first; the state of the k-th updated weight (in the order above, frozen
 * channels' slots included) is velocity_w[k] / shadow[k]. (edgec_train.h states the float operations.)
 * Every sum is sequential in float32 from 0.0f, in that order, with no fused multiply-add (the numpy reference in
 * toolchain/ops/fully_connected.py gives the same bits). g_x uses the weights before the update.
 * A term whose g_acc is 0 (masked) adds a zero to a sum that started at +0.0 and so is never -0.0: skipping it
 * changes no bit.
 * Cost per MAC: g_x one multiply-add (a batch row's g_acc is computed into `scratch` once; the sums are kept in
 * g_x, four weight rows per pass, rows of four zero g_acc skipped); G one multiply-add (batches 1: the row of
 * g_acc hoisted; more batches: a mask test per term); per updated weight ~8 instructions (nearest) or ~16
 * (stochastic). scratch: out_c floats when g_x is computed or weights are trained. */

/* g_acc[b, .] into row */
static void g_acc_row(const edgec_fully_connected_s8_backward_params *p, const float *grad_out, const uint8_t *mask,
                      int32_t b, float *row) {
    const int32_t e0 = b * p->out_c;
    for (int32_t o = 0; o < p->out_c; o++) {
        row[o] = (edgec_mask_bit(mask, e0 + o) ? grad_out[e0 + o] : 0.0f) * p->acc_scale[o];
    }
}

void edgec_fully_connected_s8_backward(const edgec_fully_connected_s8_backward_params *p, const int8_t *input,
                                       const float *grad_out, const uint8_t *mask, int8_t *weights, int32_t *bias,
                                       float *grad_in, float *scratch, uint32_t *rng) {
    if (grad_in) { /* S[b, i] accumulated in g_x over o asc, four rows of weights per pass */
        for (int32_t b = 0; b < p->batches; b++) {
            g_acc_row(p, grad_out, mask, b, scratch);
            float *s = grad_in + b * p->depth;
            for (int32_t i = 0; i < p->depth; i++) s[i] = 0.0f;
            int32_t o = 0;
            for (; o + 4 <= p->out_c; o += 4) {
                const float g0 = scratch[o], g1 = scratch[o + 1], g2 = scratch[o + 2], g3 = scratch[o + 3];
                if (g0 == 0.0f && g1 == 0.0f && g2 == 0.0f && g3 == 0.0f) continue; /* adds zeros only */
                const int8_t *w0 = p->weights + o * p->depth, *w1 = w0 + p->depth, *w2 = w1 + p->depth;
                const int8_t *w3 = w2 + p->depth;
                for (int32_t i = 0; i < p->depth; i++) {
                    float acc = s[i];
                    acc += (float)w0[i] * g0;
                    acc += (float)w1[i] * g1;
                    acc += (float)w2[i] * g2;
                    acc += (float)w3[i] * g3;
                    s[i] = acc;
                }
            }
            for (; o < p->out_c; o++) {
                const float g = scratch[o];
                const int8_t *w = p->weights + o * p->depth;
                for (int32_t i = 0; i < p->depth; i++) s[i] += (float)w[i] * g;
            }
            for (int32_t i = 0; i < p->depth; i++) s[i] = s[i] * p->inv_sx;
        }
    }
    const int32_t wc = p->weight_channels < p->depth ? p->weight_channels : p->depth;
    if (wc > 0 && weights && input) {
        if (p->batches == 1) g_acc_row(p, grad_out, mask, 0, scratch); /* one term per weight: g_acc hoisted */
        for (int32_t o = 0; o < p->out_c; o++) {
            if (p->coef_w[o] == 0.0f) continue; /* frozen channel: no step, no draw */
            int8_t *w = weights + o * p->depth;
            const float g = p->batches == 1 ? scratch[o] : 0.0f;
            for (int32_t i = 0; i < wc; i++) {
                float acc = 0.0f;
                if (p->batches == 1) {
                    acc += g * (float)((int32_t)input[i] + p->input_offset);
                } else {
                    for (int32_t b = 0; b < p->batches; b++) {
                        const int32_t e = b * p->out_c + o;
                        if (!edgec_mask_bit(mask, e)) continue;
                        const int32_t xv = (int32_t)input[b * p->depth + i] + p->input_offset;
                        acc += (grad_out[e] * p->acc_scale[o]) * (float)xv;
                    }
                }
                const float step = acc * p->coef_w[o];
                const int32_t k = o * wc + i; /* the state's index */
                w[i] = edgec_update_weight(w[i], step, p->rounding, p->momentum,
                                           p->velocity_w ? p->velocity_w + k : NULL,
                                           p->shadow ? p->shadow + k : NULL, rng);
            }
        }
    }
    if (p->train_bias && bias) {
        for (int32_t o = 0; o < p->out_c; o++) {
            if (p->coef_b[o] == 0.0f) continue;
            float acc = 0.0f;
            for (int32_t b = 0; b < p->batches; b++) {
                const int32_t e = b * p->out_c + o;
                if (edgec_mask_bit(mask, e)) acc += grad_out[e] * p->acc_scale[o];
            }
            float step = acc * p->coef_b[o];
            if (p->velocity_b) step = edgec_momentum(&p->velocity_b[o], p->momentum, step, 1073741824.0f);
            bias[o] = edgec_update_bias(bias[o], step, p->bias_max[o]);
        }
    }
}
