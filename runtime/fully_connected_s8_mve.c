#include "fully_connected_s8_mve.h"

#include "edgec_fixedpoint.h"
#include "edgec_mve.h"

/* out[b, o] = clamp(zp_out + MBQM(bias_folded[o] + sum_d w[o, d] x[b, d]))   (edgec_mve.h: the fold)
 * Inner loop, per 16 inputs and 4 rows: 1 VLDRB of the inputs, 4 VLDRB of weights, 4 VMLADAVA.S8, and the LE of
 * the low-overhead loop: 10 instructions per 64 MACs. Requantization: about 12 vector instructions per 4 rows. */

/* requantizes the 4 rows o..o+3 (the first n of them real) and stores the n outputs */
static inline void fc_store(const edgec_fully_connected_s8_params *p, const int32_t *bias_folded,
                            edgec_mve_out_t st, int32x4_t acc, int32_t o, int32_t n, int8_t *out) {
    const mve_pred16_t lanes = vctp32q((uint32_t)n);
    acc = vaddq_s32(acc, vldrwq_z_s32(bias_folded + o, lanes));
    if (st.rounding) {
        int32_t m[4], s[4];
        for (int32_t i = 0; i < 4; i++) {
            const int32_t c = p->per_channel ? o + (i < n ? i : 0) : 0;
            m[i] = p->multiplier[c], s[i] = p->shift[c];
        }
        acc = edgec_mve_requantize_f32(acc, m, s);
    } else if (p->per_channel) {
        acc = edgec_mve_mbqm(acc, vldrwq_z_s32(p->multiplier + o, lanes), vldrwq_z_s32(p->shift + o, lanes));
    } else {
        acc = edgec_mve_mbqm_n(acc, p->multiplier[0], p->shift[0]);
    }
    vstrbq_p_s32(out + o, edgec_mve_offset_clamp(acc, st), lanes);
}

void edgec_fully_connected_s8_mve(const edgec_fully_connected_s8_params *p, const int32_t *bias_folded,
                                  const int8_t *input, int8_t *output) {
    const int32_t depth = p->depth, out_c = p->out_c, chunks = depth >> 4, rest = depth & 15;
    const edgec_mve_out_t st = {p->output_offset, p->act_min, p->act_max, p->rounding};
    const mve_pred16_t tail = vctp8q((uint32_t)rest);
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *in = input + b * depth;
        int8_t *out = output + b * out_c;
        for (int32_t o = 0; o < out_c; o += 4) {
            /* rows o..o+3; past out_c the block repeats row o (read, computed, not stored) */
            const int32_t n = out_c - o < 4 ? out_c - o : 4;
            const int8_t *w0 = p->weights + o * depth;
            const int8_t *w1 = n > 1 ? w0 + depth : w0, *w2 = n > 2 ? w0 + 2 * depth : w0;
            const int8_t *w3 = n > 3 ? w0 + 3 * depth : w0, *x = in;
            int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
            for (int32_t c = 0; c < chunks; c++) {
                const int8x16_t xv = vldrbq_s8(x);
                a0 = vmladavaq_s8(a0, vldrbq_s8(w0), xv);
                a1 = vmladavaq_s8(a1, vldrbq_s8(w1), xv);
                a2 = vmladavaq_s8(a2, vldrbq_s8(w2), xv);
                a3 = vmladavaq_s8(a3, vldrbq_s8(w3), xv);
                x += 16, w0 += 16, w1 += 16, w2 += 16, w3 += 16;
            }
            if (rest) { /* the zeroed lanes past depth add nothing; the loads stop at the last byte */
                const int8x16_t xv = vldrbq_z_s8(x, tail);
                a0 = vmladavaq_s8(a0, vldrbq_z_s8(w0, tail), xv);
                a1 = vmladavaq_s8(a1, vldrbq_z_s8(w1, tail), xv);
                a2 = vmladavaq_s8(a2, vldrbq_z_s8(w2, tail), xv);
                a3 = vmladavaq_s8(a3, vldrbq_z_s8(w3, tail), xv);
            }
            int32x4_t acc = vdupq_n_s32(a0);
            acc = vsetq_lane_s32(a1, acc, 1);
            acc = vsetq_lane_s32(a2, acc, 2);
            acc = vsetq_lane_s32(a3, acc, 3);
            fc_store(p, bias_folded, st, acc, o, n, out);
        }
    }
}
