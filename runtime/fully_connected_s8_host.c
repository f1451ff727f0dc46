#include "fully_connected_s8_host.h"
#include "edgec_fixedpoint.h"
#include "edgec_host.h"

/* out[b,o] = clamp(zp_out + MBQM(bias[o] + sum_d w[o,d] (x[b,d] - zp_in)))              (the portable kernel)
 *          = clamp(zp_out + MBQM(bias_folded[o] + sum_d w[o,d] x[b,d]))
 * bias_folded[o] = bias[o] - zp_in sum_d w[o,d] (compile time): the same integer, added with wraparound, so the
 * same int32 as the portable sum (which fits int32, checked by the compiler). The input row is widened to int16
 * once (zeros past depth), then 4 output rows share each load of 8 inputs: per 32 MACs 5 loads, 4 PMADDWD,
 * 4 PADDD (the trip count is a multiple of 8, so gcc -O2 vectorizes it). The row's sums are then requantized
 * by edgec_host.h's vector stage (16 at a time) when the compiler found it exact, else one by one. */

static inline int8_t fc_host_out(const edgec_fully_connected_s8_params *p, const int32_t *requant, int32_t acc,
                                 int32_t o) {
    if (requant) return edgec_host_out(acc, requant + 4 * o, p->output_offset, p->act_min, p->act_max);
    const int32_t c = p->per_channel ? o : 0;
    const int32_t y = edgec_requantize(acc, p->multiplier[c], p->shift[c], p->rounding) + p->output_offset;
    return (int8_t)edgec_clamp(y, p->act_min, p->act_max);
}

void edgec_fully_connected_s8_host(const edgec_fully_connected_s8_params *p, const int16_t *weights16,
                                   const int32_t *bias_folded, const int32_t *requant, const double *vq,
                                   const int32_t *voff, const int8_t *input, int8_t *output) {
    int16_t x[EDGEC_FC_HOST_MAX_DEPTH];
    int32_t acc[EDGEC_FC_HOST_MAX_OUT];
    const int32_t d8 = (p->depth + EDGEC_FC_HOST_STEP - 1) / EDGEC_FC_HOST_STEP;
    const int32_t d_pad = d8 * EDGEC_FC_HOST_STEP, dd = d8 * EDGEC_FC_HOST_STEP, out_c = p->out_c;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *in = input + b * p->depth;
        for (int32_t d = 0; d < p->depth; d++) x[d] = in[d];
        for (int32_t d = p->depth; d < d_pad; d++) x[d] = 0;
        int8_t *out = output + b * out_c;
        int32_t o = 0;
        for (; o + 4 <= out_c; o += 4) {
            const int16_t *w0 = weights16 + o * d_pad, *w1 = w0 + d_pad, *w2 = w1 + d_pad, *w3 = w2 + d_pad;
            int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            for (int32_t d = 0; d < dd; d++) {
                const int32_t xd = x[d];
                a0 += w0[d] * xd;
                a1 += w1[d] * xd;
                a2 += w2[d] * xd;
                a3 += w3[d] * xd;
            }
            acc[o] = edgec_wrap_add(bias_folded[o], a0);
            acc[o + 1] = edgec_wrap_add(bias_folded[o + 1], a1);
            acc[o + 2] = edgec_wrap_add(bias_folded[o + 2], a2);
            acc[o + 3] = edgec_wrap_add(bias_folded[o + 3], a3);
        }
        for (; o < out_c; o++) {
            const int16_t *w = weights16 + o * d_pad;
            int32_t a = 0;
            for (int32_t d = 0; d < dd; d++) a += (int32_t)w[d] * x[d];
            acc[o] = edgec_wrap_add(bias_folded[o], a);
        }
        /* the input and output may be one buffer only if the planner says so; it never does for FC */
        if (vq && out_c >= EDGEC_HOST_VBLOCK) { /* the vector stage on blocks of 16 outputs, the rest and the
                                                  * fixed-up ones through the scalar one */
            const int32_t v_end = out_c / EDGEC_HOST_VBLOCK * EDGEC_HOST_VBLOCK;
            for (int32_t c0 = 0; c0 < v_end; c0 += EDGEC_HOST_VBLOCK) {
                edgec_host_out16(acc + c0, vq + c0, vq + out_c + c0, vq + 2 * out_c + c0, voff + c0, p->act_min,
                                 p->act_max, out + c0);
            }
            for (o = v_end; o < out_c; o++) out[o] = fc_host_out(p, requant, acc[o], o);
            for (int32_t f = 0; f < voff[out_c]; f++) {
                const int32_t c = voff[out_c + 1 + f];
                out[c] = fc_host_out(p, requant, acc[c], c);
            }
        } else {
            for (o = 0; o < out_c; o++) out[o] = fc_host_out(p, requant, acc[o], o);
        }
    }
}
