#include "fully_connected_s8_mve.h"

#include "edgec_fixedpoint.h"
#include "edgec_mve.h"

/* out[b, o] = clamp(zp_out + MBQM(bias_folded[o] + sum_d w[o, d] x[b, d]))   (edgec_mve.h: the fold)
 * Inner loop, per 16 inputs and 4 rows: 1 VLDRB of the inputs, 4 VLDRB of weights, 4 VMLADAVA.S8, and the LE of
 * the low-overhead loop: 10 instructions per 64 MACs. Per block of 4 rows outside it: the 4 sums moved into one
 * vector, the folded bias added, the requantization as one vector stage (per-tensor: VQRDMULH, VQADD, VSHR, VRSHL;
 * per-channel: + 2 VLDRW, VMAX, VMIN, VSHL, VAND), + zero point, clamp, one VSTRB.32: about 30 instructions. */

enum { FC_PER_TENSOR, FC_PER_CHANNEL, FC_ROUNDING }; /* the output stage, fixed per call (the loop is versioned) */

/* requantizes the 4 sums of rows o..o+3 (the first n real) and stores the n outputs */
static inline __attribute__((always_inline)) void fc_store(const edgec_fully_connected_s8_params *p,
                                                           const int32_t *bias_folded, edgec_mve_out_t st,
                                                           int32x4_t acc, int32_t o, int32_t n, int8_t *out,
                                                           int mode) {
    const mve_pred16_t lanes = vctp32q((uint32_t)n);
    acc = vaddq_s32(acc, vldrwq_z_s32(bias_folded + o, lanes));
    if (mode == FC_ROUNDING) {
        int32_t m[4], s[4];
        for (int32_t i = 0; i < 4; i++) {
            const int32_t c = p->per_channel ? o + (i < n ? i : 0) : 0;
            m[i] = p->multiplier[c], s[i] = p->shift[c];
        }
        acc = edgec_mve_requantize_f32(acc, m, s);
    } else if (mode == FC_PER_CHANNEL) {
        acc = edgec_mve_mbqm(acc, vldrwq_z_s32(p->multiplier + o, lanes), vldrwq_z_s32(p->shift + o, lanes));
    } else {
        acc = edgec_mve_mbqm_n(acc, p->multiplier[0], p->shift[0]);
    }
    if (n == 4) vstrbq_s32(out + o, edgec_mve_offset_clamp(acc, st));
    else vstrbq_p_s32(out + o, edgec_mve_offset_clamp(acc, st), lanes);
}

/* the 4 sums of rows w0..w3 (depth inputs each) with the inputs x: VMLADAVA per 16, the tail predicated */
#define FC_ROWS4(w0, w1, w2, w3, x, chunks, rest, tail, acc)                                                     \
    do {                                                                                                       \
        int32_t a0_ = 0, a1_ = 0, a2_ = 0, a3_ = 0;                                                            \
        for (int32_t c_ = 0; c_ < (chunks); c_++) {                                                            \
            const int8x16_t xv_ = vldrbq_s8(x);                                                                \
            a0_ = vmladavaq_s8(a0_, vldrbq_s8(w0), xv_);                                                       \
            a1_ = vmladavaq_s8(a1_, vldrbq_s8(w1), xv_);                                                       \
            a2_ = vmladavaq_s8(a2_, vldrbq_s8(w2), xv_);                                                       \
            a3_ = vmladavaq_s8(a3_, vldrbq_s8(w3), xv_);                                                       \
            x += 16, w0 += 16, w1 += 16, w2 += 16, w3 += 16;                                                   \
        }                                                                                                      \
        if (rest) { /* the zeroed lanes past depth add nothing; the loads stop at the last byte */             \
            const int8x16_t xv_ = vldrbq_z_s8(x, tail);                                                        \
            a0_ = vmladavaq_s8(a0_, vldrbq_z_s8(w0, tail), xv_);                                               \
            a1_ = vmladavaq_s8(a1_, vldrbq_z_s8(w1, tail), xv_);                                               \
            a2_ = vmladavaq_s8(a2_, vldrbq_z_s8(w2, tail), xv_);                                               \
            a3_ = vmladavaq_s8(a3_, vldrbq_z_s8(w3, tail), xv_);                                               \
        }                                                                                                      \
        acc = vdupq_n_s32(a0_);                                                                                \
        acc = vsetq_lane_s32(a1_, acc, 1);                                                                     \
        acc = vsetq_lane_s32(a2_, acc, 2);                                                                     \
        acc = vsetq_lane_s32(a3_, acc, 3);                                                                     \
    } while (0)

static inline __attribute__((always_inline)) void fc_batch(const edgec_fully_connected_s8_params *p,
                                                           const int32_t *bias_folded, const int8_t *in,
                                                           int8_t *out, int mode) {
    const int32_t depth = p->depth, out_c = p->out_c, chunks = depth >> 4, rest = depth & 15;
    const edgec_mve_out_t st = {p->output_offset, p->act_min, p->act_max, p->rounding};
    const mve_pred16_t tail = vctp8q((uint32_t)rest);
    const int8_t *w = p->weights;
    int32_t o = 0;
    for (; o + 4 <= out_c; o += 4) { /* whole blocks: the 4 row pointers, row 3 ending where the next block starts */
        const int8_t *w0 = w, *w1 = w + depth, *w2 = w1 + depth, *w3 = w2 + depth, *x = in;
        int32x4_t acc;
        FC_ROWS4(w0, w1, w2, w3, x, chunks, rest, tail, acc);
        w += 4 * depth;
        fc_store(p, bias_folded, st, acc, o, 4, out, mode);
    }
    if (o < out_c) { /* the last out_c % 4 rows; past out_c the block repeats row o (read, computed, not stored) */
        const int32_t n = out_c - o;
        const int8_t *w0 = w, *w1 = n > 1 ? w0 + depth : w0, *w2 = n > 2 ? w0 + 2 * depth : w0, *w3 = w0, *x = in;
        int32x4_t acc;
        FC_ROWS4(w0, w1, w2, w3, x, chunks, rest, tail, acc);
        fc_store(p, bias_folded, st, acc, o, n, out, mode);
    }
}

void edgec_fully_connected_s8_mve(const edgec_fully_connected_s8_params *p, const int32_t *bias_folded,
                                  const int8_t *input, int8_t *output) {
    const int32_t depth = p->depth, out_c = p->out_c;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *in = input + b * depth;
        int8_t *out = output + b * out_c;
        if (p->rounding) fc_batch(p, bias_folded, in, out, FC_ROUNDING);
        else if (p->per_channel) fc_batch(p, bias_folded, in, out, FC_PER_CHANNEL);
        else fc_batch(p, bias_folded, in, out, FC_PER_TENSOR);
    }
}
