#include "conv2d_s8_mve.h"

#include <stddef.h>

#include "edgec_fixedpoint.h"
#include "edgec_mve.h"

/* out[q, o] = clamp(zp_out + MBQM(bias_folded[o] + sum_k w[o, k] x~[q, k]))   (edgec_mve.h: the fold; bias_folded[o],
 * M and the shifts are chan[4 o .. 4 o + 3])
 * with x~ the raw int8 input, or the input zero point at a padded tap (x~ + input_offset = 0 there, so the tap adds
 * nothing to the portable sum, as TFLite Micro skips it).
 * Inner loop, per 16 k, 2 channels x 4 pixels: 4 VLDRB of inputs, 2 of weights, 8 VMLADAVA.S8, SUBS, BNE: 16
 * instructions per 128 MACs (0.125 per MAC); per pair about 10 more (the 8 sums stored by one STM, the next pair's
 * pointers), K % 16 one predicated step; K <= 16: the inputs stay in registers over the pairs, 18 instructions per
 * pair of 8 outputs. Per channel and 4 pixels, in a second pass over the chunk's sums: VLDRW, VADD of the folded
 * bias, VSHL, VQRDMULH, [VSHR, VQADD, VRSHL], VADD, VMAX, VMIN, one scatter VSTRB.32 and the loop: 16 instructions;
 * 12 when every channel shifts right only (two channels per iteration, no VSHL, no test). */

#define MVE_PX 4 /* pixels per unit */

/* the output stage's constants (read once: int8 stores may alias anything) */
typedef struct {
    const int8_t *weights;                           /* the computed channels' weights (all, or the live ones) */
    const int32_t *chan;                             /* 4 words per output channel (edgec_conv2d_s8_mve.h) */
    const int16_t *channel;                          /* output channel of computed channel j; NULL: j itself */
    const int8_t *row;                               /* the dead channels' outputs; NULL: none */
    int32_t out_c, computed;
    int32_t plain; /* every output channel has no left shift and a right shift (conv_requant's short loop) */
    edgec_mve_out_t st;
} conv_mve_t;

static conv_mve_t conv_mve_of(const edgec_conv2d_s8_params *p, const int32_t *chan,
                              const edgec_conv2d_s8_mve_live *live) {
    conv_mve_t c;
    c.weights = live ? live->weights : p->weights, c.chan = chan;
    c.channel = live ? live->channel : NULL, c.row = live ? live->row : NULL;
    c.out_c = p->out_c, c.computed = live ? live->live : p->out_c;
    c.st.output_offset = p->output_offset, c.st.act_min = p->act_min, c.st.act_max = p->act_max;
    c.st.rounding = p->rounding;
    /* conv_requant's short loop: every channel computed (no dead ones) and shifting right only */
    c.plain = live == NULL;
    for (int32_t o = 0; o < p->out_c && c.plain; o++) c.plain = chan[4 * o + 2] == 0 && chan[4 * o + 3] < 0;
    return c;
}

#define MVE_CHUNK 32 /* computed channels per multiply pass: 32 x 4 int32 sums (512 bytes) on the stack */

/* the requantization pass: computed channels j0 .. j0 + m - 1, their 4 pixels' sums at acc[4 (j - j0) ..], each a
 * vector, stored by one scatter (predicated to the unit's n pixels unless `full`). With TFLite's rounding, per
 * channel: VLDRW of the sums, the channel's 4 words (LDM), VADD, VSHL, VQRDMULH, [VSHR, VQADD, VRSHL], VADD, VMAX,
 * VMIN, VSTRB.32 and the loop. */
static inline __attribute__((always_inline)) void conv_requant(const int32_t *acc, const int32_t *chan,
                                                               const int16_t *channel, int32_t j0, int32_t m,
                                                               int32_t zp, int32_t lo, int32_t hi, uint32x4_t offsets,
                                                               mve_pred16_t px, int8_t *out, const int onnx,
                                                               const int full, const int indexed, const int plain) {
    const int32x4_t vlo = vdupq_n_s32(lo), vhi = vdupq_n_s32(hi);
    if (!onnx && full && !indexed && plain) {
        /* every channel shifts right only: two channels per iteration (the second's scatter at offsets + 1), per
         * channel VLDRW, LDM, VADD, VQRDMULH, VSHR, VQADD, VRSHL, VADD, VMAX, VMIN, VSTRB.32, and per two ADD, LE:
         * 12 instructions per channel (the loop below: 16) */
        const int32_t *r = chan + 4 * j0;
        int8_t *o = out + j0;
        const uint32x4_t offsets1 = vaddq_n_u32(offsets, 1);
#define CONV_REQ_PLAIN(q, off)                                                                                      \
    "ldm %[r]!, {r2, r3, r4, r5}\n\t"                                                                               \
    "vadd.i32 " q ", " q ", r2\n\t"                                                                                 \
    "vqrdmulh.s32 " q ", " q ", r3\n\t"                                                                             \
    "vshr.s32 q1, " q ", #31\n\t"                                                                                   \
    "vqadd.s32 " q ", " q ", q1\n\t"                                                                                \
    "vrshl.s32 " q ", r5\n\t"                                                                                       \
    "vadd.i32 " q ", " q ", %[zp]\n\t"                                                                              \
    "vmax.s32 " q ", " q ", %q[lo]\n\t"                                                                             \
    "vmin.s32 " q ", " q ", %q[hi]\n\t"                                                                             \
    "vstrb.32 " q ", [%[o], %q[" off "]]\n\t"
        if (m >= 2)
            __asm__ volatile("dls lr, %[m]\n"
                             "1:\n\t"
                             "vldrw.32 q0, [%[acc]], #32\n\t"
                             "vldrw.32 q2, [%[acc], #-16]\n\t" CONV_REQ_PLAIN("q0", "off") CONV_REQ_PLAIN("q2", "off1")
                             "add %[o], %[o], #2\n\t"
                             "le lr, 1b"
                             : [acc] "+r"(acc), [r] "+r"(r), [o] "+r"(o)
                             : [m] "r"(m >> 1), [zp] "r"(zp), [lo] "w"(vlo), [hi] "w"(vhi), [off] "w"(offsets),
                               [off1] "w"(offsets1)
                             : "r2", "r3", "r4", "r5", "lr", "d0", "d1", "d2", "d3", "d4", "d5", "cc", "memory");
        if (m & 1)
            __asm__ volatile("vldrw.32 q0, [%[acc]]\n\t" CONV_REQ_PLAIN("q0", "off")
                             : [acc] "+r"(acc), [r] "+r"(r), [o] "+r"(o)
                             : [zp] "r"(zp), [lo] "w"(vlo), [hi] "w"(vhi), [off] "w"(offsets)
                             : "r2", "r3", "r4", "r5", "d0", "d1", "d2", "d3", "memory");
#undef CONV_REQ_PLAIN
        return;
    }
    if (!onnx && full && !indexed) {
        /* one asm loop (GCC's: 21 instructions per channel): VLDRW, LDM of the 4 words, VADD, VSHL, VQRDMULH,
         * [CBZ, VSHR, VQADD, VRSHL], VADD, VMAX, VMIN, VSTRB.32, ADD, LE: 16 with a right shift */
        const int32_t *r = chan + 4 * j0;
        int8_t *o = out + j0;
        __asm__ volatile("dls lr, %[m]\n"
                         "1:\n\t"
                         "vldrw.32 q0, [%[acc]], #16\n\t"
                         "ldm %[r]!, {r2, r3, r4, r5}\n\t"
                         "vadd.i32 q0, q0, r2\n\t"
                         "vshl.s32 q0, r4\n\t"
                         "vqrdmulh.s32 q0, q0, r3\n\t"
                         "cbz r5, 2f\n\t"
                         "vshr.s32 q1, q0, #31\n\t"
                         "vqadd.s32 q0, q0, q1\n\t"
                         "vrshl.s32 q0, r5\n"
                         "2:\n\t"
                         "vadd.i32 q0, q0, %[zp]\n\t"
                         "vmax.s32 q0, q0, %q[lo]\n\t"
                         "vmin.s32 q0, q0, %q[hi]\n\t"
                         "vstrb.32 q0, [%[o], %q[off]]\n\t"
                         "add %[o], %[o], #1\n\t"
                         "le lr, 1b"
                         : [acc] "+r"(acc), [r] "+r"(r), [o] "+r"(o)
                         : [m] "r"(m), [zp] "r"(zp), [lo] "w"(vlo), [hi] "w"(vhi), [off] "w"(offsets)
                         : "r2", "r3", "r4", "r5", "lr", "d0", "d1", "d2", "d3", "cc", "memory");
        return;
    }
    const int16_t *ch = channel ? channel + j0 : NULL;
    const int32_t *r = chan + 4 * j0; /* the words of channel j0 + i when every channel is computed */
    for (int32_t i = 0; i < m; i++, acc += 4, r += 4) {
        int32_t o = j0 + i;
        if (indexed) o = ch[i], r = chan + 4 * o;
        int32x4_t x = vaddq_n_s32(vldrwq_s32(acc), r[0]);
        const int32_t mult = r[1], left = r[2], neg_right = r[3];
        if (onnx) {
            const int32_t ms[4] = {mult, mult, mult, mult}, sh = left + neg_right, ss[4] = {sh, sh, sh, sh};
            x = edgec_mve_requantize_f32(x, ms, ss);
        } else { /* edgec_mve.h's MBQM with the channel's shifts split; VSHL by 0 leaves x */
            x = vqrdmulhq_n_s32(vshlq_r_s32(x, left), mult);
            if (neg_right) x = vrshlq_n_s32(vqaddq_s32(x, vshrq_n_s32(x, 31)), neg_right);
        }
        x = vminq_s32(vmaxq_s32(vaddq_n_s32(x, zp), vlo), vhi);
        if (full)
            vstrbq_scatter_offset_s32(out + o, offsets, x);
        else
            vstrbq_scatter_offset_p_s32(out + o, offsets, x, px);
    }
}

/* `pairs` pairs of channels from the weights at wa: each pair's 8 sums (channel j's 4 pixels, then j + 1's) stored
 * at sums with one STM; returns the end. K = 16 chunks + rest. The accumulators are r0, r2, ..., r12 and lr
 * (VMLADAVA's Rda is even); the first 16 k use VMLADAV (no zeroing), the last rest k (if any) one step whose weight
 * loads are predicated by VCTP.8 rest (P0, set once: the lanes past K load 0, no byte past the weights is read; the
 * scratch bytes there are multiplied by 0). Per pair, outside the 16 instructions per 16 k: the restart of the
 * scratch and the count (2 LDR), STM, the next pair's weights (wb's end + rest, K further: LDR, ADD, LDR, ADD; MOV
 * for the first when K % 16 = 0), LDR, CMP, BNE: 10 or 11 (the C loop around the same asm: about 20, and the tail
 * step in C 25 more). */
#define CONV_STEP(op, post)                                                                                         \
    "vldrb.8 q4, [%[wa]]" post "\n\t"                                                                               \
    "vldrb.8 q0, [%[s]], #64\n\t"                                                                                   \
    "vldrb.8 q5, [%[wb]]" post "\n\t"                                                                               \
    op " r0, q4, q0\n\t"                                                                                            \
    "vldrb.8 q1, [%[s], #-48]\n\t"                                                                                  \
    op " r8, q5, q0\n\t"                                                                                            \
    op " r2, q4, q1\n\t"                                                                                            \
    "vldrb.8 q2, [%[s], #-32]\n\t"                                                                                  \
    op " r10, q5, q1\n\t"                                                                                           \
    op " r4, q4, q2\n\t"                                                                                            \
    "vldrb.8 q3, [%[s], #-16]\n\t"                                                                                  \
    op " r12, q5, q2\n\t"                                                                                           \
    op " r6, q4, q3\n\t"                                                                                            \
    op " lr, q5, q3\n\t"
/* the tail: the two weight loads predicated (VPSTT) */
#define CONV_TAIL(op)                                                                                               \
    "vpstt\n\t"                                                                                                     \
    "vldrbt.8 q4, [%[wa]]\n\t"                                                                                      \
    "vldrbt.8 q5, [%[wb]]\n\t"                                                                                      \
    "vldrb.8 q0, [%[s]]\n\t"                                                                                        \
    "vldrb.8 q1, [%[s], #16]\n\t"                                                                                   \
    op " r0, q4, q0\n\t"                                                                                            \
    op " r8, q5, q0\n\t"                                                                                            \
    "vldrb.8 q2, [%[s], #32]\n\t"                                                                                   \
    op " r2, q4, q1\n\t"                                                                                            \
    op " r10, q5, q1\n\t"                                                                                           \
    "vldrb.8 q3, [%[s], #48]\n\t"                                                                                   \
    op " r4, q4, q2\n\t"                                                                                            \
    op " r12, q5, q2\n\t"                                                                                           \
    op " r6, q4, q3\n\t"                                                                                            \
    op " lr, q5, q3\n\t"
#define CONV_PAIRS_ASM(body, next)                                                                                  \
    __asm__ volatile("vmrs %[n], p0\n\t"                                                                           \
                     "str %[n], %[saved]\n\t"                                                                       \
                     "vmsr p0, %[pred]\n"                                                                          \
                     "3:\n\t"                                                                                       \
                     "ldr %[s], %[scr]\n\t" body                                                                    \
                     "stmia %[sums]!, {r0, r2, r4, r6, r8, r10, r12, lr}\n\t"                                       \
                     next                                                                                           \
                     "ldr %[n], %[k]\n\t"                                                                           \
                     "add %[wb], %[wa], %[n]\n\t"                                                                   \
                     "ldr %[n], %[end]\n\t"                                                                         \
                     "cmp %[sums], %[n]\n\t"                                                                        \
                     "bne 3b\n\t"                                                                                   \
                     "ldr %[n], %[saved]\n\t"                                                                       \
                     "vmsr p0, %[n]"                                                                                \
                     : [s] "=&r"(s), [n] "=&r"(n), [wa] "+r"(wa), [wb] "+r"(wb), [sums] "+r"(sums),             \
                       [saved] "=m"(saved)                                                                          \
                     : [scr] "m"(scratch), [chunks] "m"(chunks), [k] "m"(k), [end] "m"(end), [rest] "m"(rest),   \
                       [pred] "r"(pred)                                                                             \
                     : "r0", "r2", "r4", "r6", "r8", "r10", "r12", "lr", "d0", "d1", "d2", "d3", "d4", "d5", "d6",  \
                       "d7", "d8", "d9", "d10", "d11", "cc", "memory")
/* the next pair's first row: wb's end + rest (wa = wb when K % 16 = 0) */
#define CONV_NEXT_REST                                                                                              \
    "ldr %[n], %[rest]\n\t"                                                                                         \
    "add %[wa], %[wb], %[n]\n\t"
/* the full 16-k steps: the first without accumulating, then a SUBS/BNE loop (wa, wb advance 16 chunks) */
#define CONV_CHUNKS                                                                                                 \
    "ldr %[n], %[chunks]\n\t" CONV_STEP("vmladav.s8", ", #16")                                                      \
    "subs %[n], %[n], #1\n\t"                                                                                       \
    "beq 2f\n"                                                                                                      \
    "1:\n\t" CONV_STEP("vmladava.s8", ", #16")                                                                      \
    "subs %[n], %[n], #1\n\t"                                                                                       \
    "bne 1b\n"                                                                                                      \
    "2:\n\t"
/* the K <= 16 pair loop over the inputs in q0..q3 (conv_pairs) */
#define CONV_RESIDENT_LOOP \
    "3:\n\t" \
    "vpstt\n\t" \
    "vldrbt.8 q4, [%[wa]]\n\t" \
    "vldrbt.8 q5, [%[wb]]\n\t" \
    "vmladav.s8 r0, q4, q0\n\t" \
    "vmladav.s8 r8, q5, q0\n\t" \
    "vmladav.s8 r2, q4, q1\n\t" \
    "vmladav.s8 r10, q5, q1\n\t" \
    "vmladav.s8 r4, q4, q2\n\t" \
    "vmladav.s8 r12, q5, q2\n\t" \
    "vmladav.s8 r6, q4, q3\n\t" \
    "vmladav.s8 lr, q5, q3\n\t" \
    "stmia %[sums]!, {r0, r2, r4, r6, r8, r10, r12, lr}\n\t" \
    "ldr %[n], %[k]\n\t" \
    "add %[wa], %[wb], %[n]\n\t" \
    "add %[wb], %[wa], %[n]\n\t" \
    "ldr %[n], %[end]\n\t" \
    "cmp %[sums], %[n]\n\t" \
    "bne 3b\n\t" \
    "ldr %[n], %[saved]\n\t" \
    "vmsr p0, %[n]"
/* The resident-input pair loop with its frame: P0 saved, the predicate of K set, the 4 pixels' inputs loaded into
 * q0..q3 by LOAD (from [%[s]] = scratch, %[n] = K), CONV_RESIDENT_LOOP, P0 restored */
#define CONV_RESIDENT_ASM(LOAD)                                                                                    \
    __asm__ volatile("vmrs %[n], p0\n\t"                                                                          \
                     "str %[n], %[saved]\n\t"                                                                     \
                     "ldr %[n], %[pred]\n\t"                                                                      \
                     "vmsr p0, %[n]\n\t"                                                                          \
                     "ldr %[s], %[scr]\n\t" LOAD CONV_RESIDENT_LOOP                                                \
                     : [s] "=&r"(s), [n] "=&r"(n), [wa] "+r"(wa), [wb] "+r"(wb), [sums] "+r"(sums),              \
                       [saved] "=m"(saved)                                                                         \
                     : [scr] "m"(scratch), [k] "m"(k), [end] "m"(end), [pred] "m"(pred_k)                          \
                     : "r0", "r2", "r4", "r6", "r8", "r10", "r12", "lr", "d0", "d1", "d2", "d3", "d4", "d5",      \
                       "d6", "d7", "d8", "d9", "d10", "d11", "cc", "memory")

static inline __attribute__((always_inline)) int32_t *conv_pairs(const int8_t *wa, const int8_t *scratch, int32_t k,
                                                                 int32_t pairs, int32_t *sums, const int direct) {
    const int8_t *wb = wa + k, *s;
    int32_t n, saved; /* P0 as the compiler left it: restored at the end (GCC 12 has no "vpr" clobber) */
    const int32_t chunks = k >> 4, rest = k & 15, pred = (int32_t)vctp8q((uint32_t)rest);
    int32_t *const end = sums + 8 * pairs;
    /* per pair, wa and wb advance 16 chunks (not at all when K < 16, then rest = K): the next pair starts at
     * wb + rest, its second row K later */
    if (direct) {
        const int32_t pred_k = (int32_t)vctp8q((uint32_t)k); /* the weight and input loads */
        /* K < 16, the 4 pixels read in place: pixel i's K inputs at scratch + i K (predicated to K: no byte past
         * the last pixel is read), then the loop below */
        CONV_RESIDENT_ASM("ldr %[n], %[k]\n\t"
                          "vpst\n\t"
                          "vldrbt.8 q0, [%[s]]\n\t"
                          "add %[s], %[s], %[n]\n\t"
                          "vpst\n\t"
                          "vldrbt.8 q1, [%[s]]\n\t"
                          "add %[s], %[s], %[n]\n\t"
                          "vpst\n\t"
                          "vldrbt.8 q2, [%[s]]\n\t"
                          "add %[s], %[s], %[n]\n\t"
                          "vpst\n\t"
                          "vldrbt.8 q3, [%[s]]\n");
    } else if (k <= 16) {
        const int32_t pred_k = (int32_t)vctp8q((uint32_t)k); /* the weight loads (all 16 lanes when K = 16) */
        /* K <= 16: the 4 pixels' inputs loaded once into q0..q3 for every pair; per pair VPSTT, 2 predicated weight
         * loads, 8 VMLADAV, STM, the next pair's rows (LDR, 2 ADD: wa = wb + K, wb = wa + K), LDR, CMP, BNE: 18
         * instructions (reloading the inputs per pair: 24) */
        CONV_RESIDENT_ASM("vldrb.8 q0, [%[s]]\n\t"
                          "vldrb.8 q1, [%[s], #16]\n\t"
                          "vldrb.8 q2, [%[s], #32]\n\t"
                          "vldrb.8 q3, [%[s], #48]\n");
    } else if (rest == 0)
        CONV_PAIRS_ASM(CONV_CHUNKS, "mov %[wa], %[wb]\n\t");
    else
        CONV_PAIRS_ASM(CONV_CHUNKS CONV_TAIL("vmladava.s8"), CONV_NEXT_REST);
    return sums;
}

/* the dead channels' output row into n pixels' outputs: whole 16-byte pieces unpredicated (a VCTP, VMRS, VMSR and 2
 * VPST each when predicated: 11 instructions per 16 bytes, now 3), the last out_c % 16 predicated; out of line (the
 * unit loops of the layers without dead channels keep their registers) */
static __attribute__((noinline)) void put_row(const int8_t *row, int32_t out_c, int32_t n, int8_t *out) {
    for (int32_t q = 0; q < n; q++) {
        int8_t *o = out + q * out_c;
        int32_t i = 0;
        for (; i + 16 <= out_c; i += 16) vstrbq_s8(o + i, vldrbq_s8(row + i));
        if (i < out_c) {
            const mve_pred16_t pr = vctp8q((uint32_t)(out_c - i));
            vstrbq_p_s8(o + i, vldrbq_z_s8(row + i, pr), pr);
        }
    }
}

/* All out_c outputs of n <= 4 pixels whose K inputs are in the scratch; pixel px's output at out + px * out_c. The
 * lanes of pixels past n hold stale bytes: computed, never stored. Two passes per chunk of MVE_CHUNK computed
 * channels: the multiply pass leaves each pair's 8 sums on the stack with one STM (channel j's 4 pixels, then
 * j + 1's), the requantization pass reads them back as vectors (conv_requant): no lane moves, and the output
 * stage's constants stay in registers over the chunk. */
static inline __attribute__((always_inline)) void conv_pixels_mode(const conv_mve_t *c, int32_t k,
                                                                   const int8_t *scratch, int32_t n, int8_t *out,
                                                                   const int onnx, const int direct) {
    /* every constant in a local: the int8 stores below may alias anything reached through a pointer */
    const int8_t *const weights = c->weights, *const row = c->row;
    const int32_t *const chan = c->chan;
    const int16_t *const channel = c->channel;
    const int32_t out_c = c->out_c, computed = c->computed, chunks = k >> 4, rest = k & 15, plain = c->plain;
    const int32_t zp = c->st.output_offset, lo = c->st.act_min, hi = c->st.act_max;
    const mve_pred16_t tail = vctp8q((uint32_t)rest), px = vctp32q((uint32_t)n);
    const uint32x4_t offsets = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)out_c);
    int32_t acc[4 * MVE_CHUNK] __attribute__((aligned(8)));
    if (row) put_row(row, out_c, n, out); /* the dead channels' constant outputs first; the live ones overwrite
                                         * their bytes below */
    for (int32_t j0 = 0; j0 < computed; j0 += MVE_CHUNK) {
        const int32_t m = computed - j0 < MVE_CHUNK ? computed - j0 : MVE_CHUNK;
        int32_t *sums = acc;
        int32_t j = j0;
        if (m > 1) { /* the chunk's full pairs in one asm loop (conv_pairs) */
            sums = conv_pairs(weights + j0 * k, scratch, k, m >> 1, sums, direct);
            j += m & ~1;
        }
        for (; j < j0 + m; j += 2) {
            const int two = j + 1 < computed;
            const int8_t *wa = weights + j * k, *wb = two ? wa + k : wa, *s = scratch;
            /* VMLADAVA accumulates into an even core register only (its encoding holds Rda / 2): the 8
             * accumulators are r0, r2, ..., r12 and lr, bound to the asm below; the loop counts down in an odd
             * register */
            register int32_t a0 __asm__("r0"), a1 __asm__("r2"), a2 __asm__("r4"), a3 __asm__("r6");
            register int32_t b0 __asm__("r8"), b1 __asm__("r10"), b2 __asm__("r12"), b3 __asm__("lr");
            if (chunks > 0) {
                /* The whole loop in one asm block: GCC's own allocation of the same intrinsics copies
                 * accumulators between odd and even registers and keeps one on the stack (23 instructions per
                 * 16 k); here 16: 6 VLDRB, 8 VMLADAVA, SUBS, BNE. Each load is followed by the VMLADAVA that do not
                 * wait for it. The first 16 k use VMLADAV (no accumulate): the accumulators need no zeroing. */
                int32_t left = chunks;
                __asm__("vldrb.8 q4, [%[wa]], #16\n\t"
                        "vldrb.8 q0, [%[s]], #64\n\t"
                        "vldrb.8 q5, [%[wb]], #16\n\t"
                        "vmladav.s8 %[a0], q4, q0\n\t"
                        "vldrb.8 q1, [%[s], #-48]\n\t"
                        "vmladav.s8 %[b0], q5, q0\n\t"
                        "vmladav.s8 %[a1], q4, q1\n\t"
                        "vldrb.8 q2, [%[s], #-32]\n\t"
                        "vmladav.s8 %[b1], q5, q1\n\t"
                        "vmladav.s8 %[a2], q4, q2\n\t"
                        "vldrb.8 q3, [%[s], #-16]\n\t"
                        "vmladav.s8 %[b2], q5, q2\n\t"
                        "vmladav.s8 %[a3], q4, q3\n\t"
                        "vmladav.s8 %[b3], q5, q3\n\t"
                        "subs %[n], %[n], #1\n\t"
                        "beq 2f\n"
                        "1:\n\t"
                        "vldrb.8 q4, [%[wa]], #16\n\t"
                        "vldrb.8 q0, [%[s]], #64\n\t"
                        "vldrb.8 q5, [%[wb]], #16\n\t"
                        "vmladava.s8 %[a0], q4, q0\n\t"
                        "vldrb.8 q1, [%[s], #-48]\n\t"
                        "vmladava.s8 %[b0], q5, q0\n\t"
                        "vmladava.s8 %[a1], q4, q1\n\t"
                        "vldrb.8 q2, [%[s], #-32]\n\t"
                        "vmladava.s8 %[b1], q5, q1\n\t"
                        "vmladava.s8 %[a2], q4, q2\n\t"
                        "vldrb.8 q3, [%[s], #-16]\n\t"
                        "vmladava.s8 %[b2], q5, q2\n\t"
                        "vmladava.s8 %[a3], q4, q3\n\t"
                        "vmladava.s8 %[b3], q5, q3\n\t"
                        "subs %[n], %[n], #1\n\t"
                        "bne 1b\n"
                        "2:"
                        : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [b0] "=&r"(b0),
                          [b1] "=&r"(b1), [b2] "=&r"(b2), [b3] "=&r"(b3), [s] "+r"(s), [wa] "+r"(wa),
                          [wb] "+r"(wb), [n] "+r"(left)
                        :
                        : "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9", "d10", "d11", "cc", "memory");
            } else {
                a0 = a1 = a2 = a3 = b0 = b1 = b2 = b3 = 0;
            }
            if (rest) { /* weights past K load as 0 (and are not read): the scratch bytes there add nothing */
                /* direct: pixel i's K < 16 inputs at s + i K, read predicated */
                const int8x16_t x0 = direct ? vldrbq_z_s8(s, tail) : vldrbq_s8(s),
                                x1 = direct ? vldrbq_z_s8(s + k, tail) : vldrbq_s8(s + 16),
                                x2 = direct ? vldrbq_z_s8(s + 2 * k, tail) : vldrbq_s8(s + 32),
                                x3 = direct ? vldrbq_z_s8(s + 3 * k, tail) : vldrbq_s8(s + 48);
                const int8x16_t va = vldrbq_z_s8(wa, tail), vb = vldrbq_z_s8(wb, tail);
                a0 = vmladavaq_s8(a0, va, x0), a1 = vmladavaq_s8(a1, va, x1);
                a2 = vmladavaq_s8(a2, va, x2), a3 = vmladavaq_s8(a3, va, x3);
                b0 = vmladavaq_s8(b0, vb, x0), b1 = vmladavaq_s8(b1, vb, x1);
                b2 = vmladavaq_s8(b2, vb, x2), b3 = vmladavaq_s8(b3, vb, x3);
            }
            /* the 8 sums in ascending registers: one STM writes channel j's 4 pixels, then j + 1's (a copy of
             * j's when j is the last computed channel: in the buffer, never stored) */
            __asm__ volatile("stm %[p]!, {r0, r2, r4, r6, r8, r10, r12, lr}"
                             : [p] "+r"(sums)
                             : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1), "r"(b2), "r"(b3)
                             : "memory");
        }
        /* one instantiation per case: no test in the channel loop */
        if (n == MVE_PX && !channel)
            conv_requant(acc, chan, channel, j0, m, zp, lo, hi, offsets, px, out, onnx, 1, 0, plain);
        else if (n == MVE_PX)
            conv_requant(acc, chan, channel, j0, m, zp, lo, hi, offsets, px, out, onnx, 1, 1, 0);
        else
            conv_requant(acc, chan, channel, j0, m, zp, lo, hi, offsets, px, out, onnx, 0, channel != NULL, 0);
    }
}

/* n bytes from src into pixel px's inputs k .. k + n - 1 of the interleaved scratch, a predicated VLDRB/VSTRB pair
 * per piece within one group of 16 (no byte outside src's n is read, none outside the piece written) */
static inline void put_run(int8_t *scratch, int32_t px, int32_t k, const int8_t *src, int32_t n) {
    if ((k & 15) == 0) { /* a run from a group's start (every pointwise pixel): whole groups unpredicated */
        int8_t *d = scratch + (k >> 4) * 64 + px * 16;
        for (; n >= 16; n -= 16, src += 16, d += 64) vstrbq_s8(d, vldrbq_s8(src));
        if (n > 0) {
            const mve_pred16_t pr = vctp8q((uint32_t)n);
            vstrbq_p_s8(d, vldrbq_z_s8(src, pr), pr);
        }
        return;
    }
    while (n > 0) {
        const int32_t lane = k & 15, piece = 16 - lane < n ? 16 - lane : n;
        const mve_pred16_t pr = vctp8q((uint32_t)piece);
        vstrbq_p_s8(scratch + (k >> 4) * 64 + px * 16 + lane, vldrbq_z_s8(src, pr), pr);
        k += piece, src += piece, n -= piece;
    }
}

/* the same with n copies of the byte v (a padded tap: the input zero point) */
static inline void put_fill(int8_t *scratch, int32_t px, int32_t k, int8_t v, int32_t n) {
    const int8x16_t vv = vdupq_n_s8(v);
    while (n > 0) {
        const int32_t lane = k & 15, piece = 16 - lane < n ? 16 - lane : n;
        vstrbq_p_s8(scratch + (k >> 4) * 64 + px * 16 + lane, vv, vctp8q((uint32_t)piece));
        k += piece, n -= piece;
    }
}

/* a whole unit of K < 16 inputs read in place (conv_pairs' direct loads); out of line: inlined into the unit loop
 * beside the copying path, GCC cannot allocate the asm blocks' registers */
static __attribute__((noinline)) void pointwise_unit_direct(const conv_mve_t *c, int32_t k, const int8_t *in,
                                                            int8_t *out) {
    conv_pixels_mode(c, k, in, MVE_PX, out, 0, 1);
}
static __attribute__((noinline)) void pointwise_unit_direct_onnx(const conv_mve_t *c, int32_t k, const int8_t *in,
                                                                 int8_t *out) {
    conv_pixels_mode(c, k, in, MVE_PX, out, 1, 1);
}

/* Pixels in units of 4 (the last unit shorter). Each unit's inputs are copied into the scratch before any of its
 * outputs is written, so the unit reads nothing from the buffer after that. In place: out_c <= in_c, units
 * ascending: the outputs of pixels [q, q + n) end at (q + n) * out_c <= (q + n) * in_c, over the unit's own inputs
 * (saved) and earlier pixels (consumed), never an unread one. out_c > in_c, units descending: the outputs start at
 * q * out_c >= q * in_c, over the unit's own inputs and later pixels (consumed). */
static inline __attribute__((always_inline)) void pointwise_units(const edgec_conv2d_s8_params *p,
                                                                   const conv_mve_t *c, const int8_t *input,
                                                                   int8_t *output, int8_t *scratch, const int onnx) {
    const int32_t in_c = p->in_c, out_c = p->out_c, pixels = p->batches * p->in_h * p->in_w;
    const int32_t units = (pixels + MVE_PX - 1) / MVE_PX, forward = out_c <= in_c;
    /* K < 16: a whole unit's inputs are read where they are, once (one chunk of channels, no dead-channel row
     * written first), before any of its outputs is written: also in place */
    const int direct = in_c < 16 && c->computed <= MVE_CHUNK && c->row == NULL;
    for (int32_t u = 0; u < units; u++) {
        const int32_t q = MVE_PX * (forward ? u : units - 1 - u); /* first pixel of the unit */
        const int32_t n = pixels - q < MVE_PX ? pixels - q : MVE_PX;
        if (direct && n == MVE_PX) { /* read in place, no copy (conv_pairs) */
            if (onnx)
                pointwise_unit_direct_onnx(c, in_c, input + q * in_c, output + q * out_c);
            else
                pointwise_unit_direct(c, in_c, input + q * in_c, output + q * out_c);
            continue;
        }
        for (int32_t px = 0; px < n; px++) put_run(scratch, px, 0, input + (q + px) * in_c, in_c);
        conv_pixels_mode(c, in_c, scratch, n, output + q * out_c, onnx, 0);
    }
}

void edgec_conv2d_s8_pointwise_mve(const edgec_conv2d_s8_params *p, const int32_t *chan,
                                   const edgec_conv2d_s8_mve_live *live, const int8_t *input, int8_t *output,
                                   int8_t *scratch) {
    const conv_mve_t c = conv_mve_of(p, chan, live);
    /* the unit loop instantiated per rounding mode, around the inlined conv_pixels_mode */
    if (c.st.rounding)
        pointwise_units(p, &c, input, output, scratch, 1);
    else
        pointwise_units(p, &c, input, output, scratch, 0);
}

/* The im2col of output pixel (b, y, x) into the scratch lane px: linear k = (ky * k_w + kx) * in_c + i, the OHWI
 * order of the weights; a padded tap is the input zero point. */
static void im2col_pixel(const edgec_conv2d_s8_params *p, const int8_t *input, int32_t b, int32_t y, int32_t x,
                         int32_t px, int8_t *scratch) {
    const int32_t in_c = p->in_c, in_h = p->in_h, in_w = p->in_w, k_h = p->k_h, k_w = p->k_w;
    const int32_t y0 = y * p->stride_h - p->pad_top, x0 = x * p->stride_w - p->pad_left;
    const int32_t dilation_h = p->dilation_h, dilation_w = p->dilation_w;
    const int8_t zero_point = (int8_t)-p->input_offset;
    const int8_t *in_b = input + b * in_h * in_w * in_c;
    const int whole_rows = dilation_w == 1 && x0 >= 0 && x0 + k_w <= in_w; /* no tap of a row is padding */
    int32_t kk = 0;
    for (int32_t ky = 0; ky < k_h; ky++) {
        const int32_t iy = y0 + ky * dilation_h;
        if (iy < 0 || iy >= in_h) {
            put_fill(scratch, px, kk, zero_point, k_w * in_c);
            kk += k_w * in_c;
        } else if (whole_rows) { /* one contiguous run of k_w * in_c bytes */
            put_run(scratch, px, kk, in_b + (iy * in_w + x0) * in_c, k_w * in_c);
            kk += k_w * in_c;
        } else {
            for (int32_t kx = 0; kx < k_w; kx++, kk += in_c) {
                const int32_t ix = x0 + kx * dilation_w;
                if (ix >= 0 && ix < in_w) {
                    put_run(scratch, px, kk, in_b + (iy * in_w + ix) * in_c, in_c);
                } else {
                    put_fill(scratch, px, kk, zero_point, in_c);
                }
            }
        }
    }
}

#define MVE_GATHER_K 256 /* im2col by gathers up to this K: its 16-bit offsets on the stack (512 bytes) */

/* The window's taps for the gathers, per k (ceil16(K) entries, zero past K): the source offset from the window's
 * first byte, offs[k] = ((ky d_h) in_w + kx d_w) in_c + i, and ky d_h, kx d_w (int8: the border test). */
typedef struct {
    uint16_t offs[MVE_GATHER_K];
    int8_t ky[MVE_GATHER_K], kx[MVE_GATHER_K];
    int32_t groups; /* ceil16(K) / 16 */
    int border;     /* the border pixels are gathered too (ky d_h, kx d_w < 128) */
} gather_t;

/* An output pixel whose whole window lies inside the input: its K inputs are at the window's first byte plus
 * offs[k], the same for every such pixel. Per 16 k: 2 VLDRH of the offsets, 2 gathers VLDRB.S16, 2 VSTRB.16 into
 * the interleaved scratch, unpredicated: the lanes past K read the window's first byte (offset 0) and land in the
 * scratch's padding, multiplied by zero weights (conv_pairs' predicated tail). About 8 instructions per 16 k with
 * the loop (vww's 3x3x3 stem: about 25 per pixel; a per-8 predicated loop with the pixel's divisions: about 115). */
static inline __attribute__((always_inline)) void gather_pixel(const int8_t *src, const gather_t *gt, int32_t px,
                                                               int8_t *scratch) {
    int8_t *d = scratch + px * 16;
    const uint16_t *offs = gt->offs;
    for (int32_t j = 0; j < gt->groups; j++, offs += 16, d += 64) {
        vstrbq_s16(d, vldrbq_gather_offset_s16(src, vldrhq_u16(offs)));
        vstrbq_s16(d + 8, vldrbq_gather_offset_s16(src, vldrhq_u16(offs + 8)));
    }
}

/* A whole unit of 4 pixels of one output row, every window inside the input: pixel p's window starts at
 * w0 + p * step. One asm loop over the groups of 16 k: 2 VLDRH of the offsets (shared by the 4 pixels), 8 gathers
 * VLDRB.S16, 8 VSTRB.16, ADD, SUBS, BNE: 21 instructions per 16 k and 4 pixels (gather_pixel per pixel with its
 * inside test and stepping in C: about 50 per pixel for vww's stem, GCC spilling its state around the asm blocks). */
static inline __attribute__((always_inline)) void gather_unit(const int8_t *w0, int32_t step, const gather_t *gt,
                                                              int8_t *scratch) {
    const int8_t *w1 = w0 + step, *w2 = w1 + step, *w3 = w2 + step;
    const uint16_t *offs = gt->offs;
    int8_t *d = scratch;
    int32_t n = gt->groups;
    __asm__ volatile("1:\n\t"
                     "vldrh.u16 q0, [%[o]], #32\n\t"
                     "vldrh.u16 q1, [%[o], #-16]\n\t"
                     "vldrb.s16 q2, [%[w0], q0]\n\t"
                     "vldrb.s16 q3, [%[w0], q1]\n\t"
                     "vstrb.16 q2, [%[d]]\n\t"
                     "vstrb.16 q3, [%[d], #8]\n\t"
                     "vldrb.s16 q2, [%[w1], q0]\n\t"
                     "vldrb.s16 q3, [%[w1], q1]\n\t"
                     "vstrb.16 q2, [%[d], #16]\n\t"
                     "vstrb.16 q3, [%[d], #24]\n\t"
                     "vldrb.s16 q2, [%[w2], q0]\n\t"
                     "vldrb.s16 q3, [%[w2], q1]\n\t"
                     "vstrb.16 q2, [%[d], #32]\n\t"
                     "vstrb.16 q3, [%[d], #40]\n\t"
                     "vldrb.s16 q2, [%[w3], q0]\n\t"
                     "vldrb.s16 q3, [%[w3], q1]\n\t"
                     "vstrb.16 q2, [%[d], #48]\n\t"
                     "vstrb.16 q3, [%[d], #56]\n\t"
                     "add %[d], %[d], #64\n\t"
                     "subs %[n], %[n], #1\n\t"
                     "bne 1b"
                     : [o] "+r"(offs), [d] "+l"(d), [n] "+r"(n)
                     : [w0] "r"(w0), [w1] "r"(w1), [w2] "r"(w2), [w3] "r"(w3)
                     : "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "cc", "memory");
}

/* A pixel whose window crosses the border: the same gathers, predicated to the taps inside the input (iy = y0 + ky
 * d_h in [0, in_h), ix = x0 + kx d_w in [0, in_w): 4 VCMP into one predicate), the others the input zero point
 * (VPSEL): about 12 instructions per 8 k instead of a run copy per tap. `win` is the address the window's first
 * byte would have (it may lie outside the input: only the lanes inside are read). */
static inline __attribute__((always_inline)) void gather_border(uintptr_t win, const gather_t *gt, int32_t y0,
                                                                int32_t x0, int32_t in_h, int32_t in_w, int8_t zp,
                                                                int32_t px, int8_t *scratch) {
    int8_t *d = scratch + px * 16;
    const int16x8_t zpv = vdupq_n_s16(zp);
    for (int32_t j = 0; j < 16 * gt->groups; j += 8) {
        const int16x8_t iy = vaddq_n_s16(vldrbq_s16(gt->ky + j), (int16_t)y0);
        const int16x8_t ix = vaddq_n_s16(vldrbq_s16(gt->kx + j), (int16_t)x0);
        mve_pred16_t pr = vcmpgeq_n_s16(iy, 0);
        pr = vcmpltq_m_n_s16(iy, (int16_t)in_h, pr);
        pr = vcmpgeq_m_n_s16(ix, 0, pr);
        pr = vcmpltq_m_n_s16(ix, (int16_t)in_w, pr);
        const int16x8_t v = vldrbq_gather_offset_z_s16((const int8_t *)win, vldrhq_u16(gt->offs + j), pr);
        vstrbq_s16(d + (j >> 4) * 64 + (j & 8), vpselq_s16(v, zpv, pr));
    }
}

static inline __attribute__((always_inline)) void im2col_units(const edgec_conv2d_s8_params *p, const conv_mve_t *c,
                                                               const gather_t *gt, const int8_t *input,
                                                               int8_t *output, int8_t *scratch, const int onnx,
                                                               const int wide) {
    /* every field in a local: the int8 stores below may alias *p, so GCC would reload them per pixel */
    const int32_t k = p->k_h * p->k_w * p->in_c, out_h = p->out_h, out_w = p->out_w, out_c = p->out_c;
    const int32_t pixels = p->batches * out_h * out_w, in_w = p->in_w, in_c = p->in_c, in_h = p->in_h;
    const int32_t stride_h = p->stride_h, stride_w = p->stride_w, pad_top = p->pad_top, pad_left = p->pad_left;
    const int32_t row_bytes = in_w * in_c, batch_bytes = in_h * row_bytes;
    const int32_t unit_step = stride_w * in_c; /* bytes between the windows of neighbour pixels */
    const int8_t zp = (int8_t)-p->input_offset;
    const int border = gt && gt->border;
    /* the window of (y, x) is inside when y0 in [0, y_hi] and x0 in [0, x_hi] */
    const int32_t y_hi = in_h - 1 - (p->k_h - 1) * p->dilation_h, x_hi = in_w - 1 - (p->k_w - 1) * p->dilation_w;
    /* the next pixel (b, y, x) and its window's corner (y0, x0), stepped without divisions */
    int32_t b = 0, y = 0, x = 0, y0 = -pad_top, x0 = -pad_left;
    const int8_t *in_b = input;
    for (int32_t q = 0; q < pixels; q += MVE_PX) {
        const int32_t n = pixels - q < MVE_PX ? pixels - q : MVE_PX;
        if (wide && n == MVE_PX && x + MVE_PX <= out_w && y0 >= 0 && y0 <= y_hi && x0 >= 0 &&
            x0 + (MVE_PX - 1) * stride_w <= x_hi) { /* 4 pixels of one row, all inside: one asm loop */
            gather_unit(in_b + y0 * row_bytes + x0 * in_c, unit_step, gt, scratch);
            x0 += MVE_PX * stride_w, x += MVE_PX;
            if (x == out_w) {
                x = 0, x0 = -pad_left, y0 += stride_h;
                if (++y == out_h) y = 0, y0 = -pad_top, b++, in_b += batch_bytes;
            }
        } else
        for (int32_t px = 0; px < n; px++) {
            const int inside = y0 >= 0 && y0 <= y_hi && x0 >= 0 && x0 <= x_hi;
            if (gt && inside)
                gather_pixel(in_b + y0 * row_bytes + x0 * in_c, gt, px, scratch);
            else if (border)
                gather_border((uintptr_t)in_b + (uintptr_t)(intptr_t)(y0 * row_bytes + x0 * in_c), gt, y0, x0, in_h,
                              in_w, zp, px, scratch);
            else
                im2col_pixel(p, input, b, y, x, px, scratch);
            x0 += stride_w;
            if (++x == out_w) {
                x = 0, x0 = -pad_left, y0 += stride_h;
                if (++y == out_h) y = 0, y0 = -pad_top, b++, in_b += batch_bytes;
            }
        }
        conv_pixels_mode(c, k, scratch, n, output + q * out_c, onnx, 0);
    }
}

void edgec_conv2d_s8_im2col_mve(const edgec_conv2d_s8_params *p, const int32_t *chan,
                                const edgec_conv2d_s8_mve_live *live, const int8_t *input, int8_t *output,
                                int8_t *scratch) {
    const conv_mve_t c = conv_mve_of(p, chan, live);
    const int32_t k_w = p->k_w, in_c = p->in_c, k = p->k_h * k_w * in_c, row = k_w * in_c;
    gather_t gt_mem __attribute__((aligned(8)));
    const gather_t *gt = NULL;
    /* the last window byte's offset */
    const int32_t last = ((p->k_h - 1) * p->dilation_h * p->in_w + (k_w - 1) * p->dilation_w) * in_c + in_c - 1;
    if (k <= MVE_GATHER_K && last <= 65535) {
        const int32_t padded = (k + 15) & ~15;
        for (int32_t kk = 0; kk < padded; kk++) {
            const int32_t ky = kk < k ? kk / row : 0, kx = kk < k ? kk % row / in_c : 0, i = kk < k ? kk % in_c : 0;
            gt_mem.offs[kk] = (uint16_t)((ky * p->dilation_h * p->in_w + kx * p->dilation_w) * in_c + i);
            gt_mem.ky[kk] = (int8_t)(ky * p->dilation_h), gt_mem.kx[kk] = (int8_t)(kx * p->dilation_w);
        }
        gt_mem.groups = padded / 16;
        gt_mem.border = (p->k_h - 1) * p->dilation_h < 128 && (k_w - 1) * p->dilation_w < 128 && p->in_h < 32768 &&
                        p->in_w < 32768;
        gt = &gt_mem;
    }
    /* the unit loop instantiated per rounding mode, around the inlined conv_pixels_mode */
    /* gather_unit's test only where the rows hold at least 2 units (instantiated apart: kws's 5-pixel rows keep the
     * loop without it) */
    const int wide = gt != NULL && p->out_w >= 2 * MVE_PX;
    if (c.st.rounding)
        im2col_units(p, &c, gt, input, output, scratch, 1, 0);
    else if (wide)
        im2col_units(p, &c, gt, input, output, scratch, 0, 1);
    else
        im2col_units(p, &c, gt, input, output, scratch, 0, 0);
}

/* ---- few output channels: the channels are the lanes (edgec_conv2d_s8_lanes_mve) ----
 * out[q, o] = clamp(zp_out + MBQM(bias[o] + sum_{taps inside} sum_i w[o, ky, kx, i] (x[q, ky, kx, i] + input_offset)))
 * exactly the portable kernel's int32 sum (same terms, added modulo 2^32). Per tap and input channel: LDRSB, ADD,
 * then one VLDRB.S32 + VMLA.S32 per 4 output channels (vww 3x3x3 -> 8: 6 instructions per 8 MACs). Per pixel and
 * 4 channels: the vector requantization (per-channel multipliers, edgec_mve_mbqm) and one VSTRB.32. */

/* the G <= 4 vectors of sums += n taps' products: src[0..n) (+ input_offset) times the weights' rows from wt.
 * G = 4 and G = 2 are one asm loop each (GCC's allocation of the intrinsics spills the input pointer: 19
 * instructions per tap for G = 4; here 11: LDRSB, ADD, 4 VLDRB.S32 (the first post-incremented), 4 VMLA.S32, SUBS,
 * BNE; G = 2: 7). */
#define LANES_TAPS(src, n)                                                                                          \
    do {                                                                                                            \
        if ((n) > 0 && (G == 4 || G == 2))                                                                          \
            lanes_asm(&a0, &a1, &a2, &a3, (src), &wt, (n), offset, G);                                              \
        else                                                                                                        \
            for (int32_t i_ = 0; i_ < (n); i_++, wt += 4 * G) {                                                     \
                const int32_t v_ = (src)[i_] + offset;                                                              \
                a0 = vmlaq_n_s32(a0, vldrbq_s32(wt), v_);                                                           \
                if (G > 1) a1 = vmlaq_n_s32(a1, vldrbq_s32(wt + 4), v_);                                            \
                if (G > 2) a2 = vmlaq_n_s32(a2, vldrbq_s32(wt + 8), v_);                                            \
            }                                                                                                       \
    } while (0)

static inline __attribute__((always_inline)) void lanes_asm(int32x4_t *a0, int32x4_t *a1, int32x4_t *a2,
                                                            int32x4_t *a3, const int8_t *src, const int8_t **wt,
                                                            int32_t n, int32_t offset, const int G) {
    const int8_t *w = *wt;
    int32x4_t s0 = *a0, s1 = *a1, s2 = *a2, s3 = *a3;
    int32_t v;
    if (G == 4) {
        __asm__("1:\n\t"
                "ldrsb %[v], [%[src]], #1\n\t"
                "vldrb.s32 q4, [%[w]], #16\n\t"
                "add %[v], %[v], %[off]\n\t"
                "vldrb.s32 q5, [%[w], #-12]\n\t"
                "vmla.s32 %q[s0], q4, %[v]\n\t"
                "vldrb.s32 q6, [%[w], #-8]\n\t"
                "vmla.s32 %q[s1], q5, %[v]\n\t"
                "vldrb.s32 q7, [%[w], #-4]\n\t"
                "vmla.s32 %q[s2], q6, %[v]\n\t"
                "vmla.s32 %q[s3], q7, %[v]\n\t"
                "subs %[n], %[n], #1\n\t"
                "bne 1b"
                : [s0] "+w"(s0), [s1] "+w"(s1), [s2] "+w"(s2), [s3] "+w"(s3), [src] "+r"(src), [w] "+l"(w),
                  [n] "+r"(n), [v] "=&r"(v)
                : [off] "r"(offset)
                : "d8", "d9", "d10", "d11", "d12", "d13", "d14", "d15", "cc", "memory");
    } else {
        __asm__("1:\n\t"
                "ldrsb %[v], [%[src]], #1\n\t"
                "vldrb.s32 q4, [%[w]], #8\n\t"
                "add %[v], %[v], %[off]\n\t"
                "vldrb.s32 q5, [%[w], #-4]\n\t"
                "vmla.s32 %q[s0], q4, %[v]\n\t"
                "vmla.s32 %q[s1], q5, %[v]\n\t"
                "subs %[n], %[n], #1\n\t"
                "bne 1b"
                : [s0] "+w"(s0), [s1] "+w"(s1), [src] "+r"(src), [w] "+l"(w), [n] "+r"(n), [v] "=&r"(v)
                : [off] "r"(offset)
                : "d8", "d9", "d10", "d11", "cc", "memory");
    }
    *a0 = s0, *a1 = s1, *a2 = s2, *a3 = s3, *wt = w;
}

/* requantizes and stores the pixel's out_c outputs at out (G and onnx constants); the last group predicated */
#define LANES_STORE(out)                                                                                            \
    do {                                                                                                            \
        lanes_store(p, a0, rec, zp, lo, hi, (out), 0, G == 1 ? last : all, onnx);                                   \
        if (G > 1) lanes_store(p, a1, rec, zp, lo, hi, (out), 1, G == 2 ? last : all, onnx);                        \
        if (G > 2) lanes_store(p, a2, rec, zp, lo, hi, (out), 2, G == 3 ? last : all, onnx);                        \
        if (G > 3) lanes_store(p, a3, rec, zp, lo, hi, (out), 3, last, onnx);                                       \
    } while (0)

/* TFLite's MBQM from the group's record (its left shift, M and -right: edgec_mve.h), or onnxruntime's per lane */
static inline __attribute__((always_inline)) void lanes_store(const edgec_conv2d_s8_params *p, int32x4_t acc,
                                                              const int32_t *rec, int32_t zp, int32x4_t lo,
                                                              int32x4_t hi, int8_t *out, int g, mve_pred16_t pr,
                                                              const int onnx) {
    if (onnx) {
        int32_t m[4], s[4];
        for (int i = 0; i < 4; i++) {
            const int32_t c = 4 * g + i < p->out_c ? 4 * g + i : 0;
            m[i] = p->multiplier[c], s[i] = p->shift[c];
        }
        acc = edgec_mve_requantize_f32(acc, m, s);
    } else {
        const int32_t *r = rec + 16 * g;
        acc = vqrdmulhq_s32(vshlq_s32(acc, vldrwq_s32(r + 8)), vldrwq_s32(r + 4));
        const int32x4_t right = vldrwq_s32(r + 12);
        acc = vrshlq_s32(vqaddq_s32(acc, vshrq_n_s32(vandq_s32(acc, right), 31)), right);
    }
    vstrbq_p_s32(out + 4 * g, vminq_s32(vmaxq_s32(vaddq_n_s32(acc, zp), lo), hi), pr);
}

static inline __attribute__((always_inline)) void lanes_run(const edgec_conv2d_s8_params *p, const int32_t *rec,
                                                            const int8_t *weights_t, const int8_t *input,
                                                            int8_t *output, const int G, const int onnx) {
    const int32_t out_c = p->out_c, in_c = p->in_c, in_w = p->in_w, k_w = p->k_w, offset = p->input_offset;
    const int32_t zp = p->output_offset;
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
    /* the stores: full groups, and the last one's out_c - 4 (G - 1) lanes */
    const mve_pred16_t all = vctp32q(4), last = vctp32q((uint32_t)(out_c - 4 * (G - 1)));
#define LANES_START int32x4_t a0 = vldrwq_s32(rec), a1 = G > 1 ? vldrwq_s32(rec + 16) : a0, \
                              a2 = G > 2 ? vldrwq_s32(rec + 32) : a0, a3 = G > 3 ? vldrwq_s32(rec + 48) : a0
    if (p->k_h == 1 && k_w == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_top == 0 && p->pad_left == 0 &&
        p->out_h == p->in_h && p->out_w == in_w) {
        /* pointwise: pixel q reads input pixel q only; in place forward when out_c <= in_c, else backward */
        const int32_t pixels = p->batches * p->in_h * in_w, backward = input == output && out_c > in_c;
        for (int32_t u = 0; u < pixels; u++) {
            const int32_t q = backward ? pixels - 1 - u : u;
            LANES_START;
            const int8_t *wt = weights_t, *src = input + q * in_c;
            LANES_TAPS(src, in_c);
            LANES_STORE(output + q * out_c);
        }
        return;
    }
    /* any other conv (not in place): per output row of taps, one run of k_w in_c bytes when the row lies inside the
     * input (dilation_w 1), else tap by tap; padded taps add nothing (the portable kernel skips them) */
    const int32_t row_taps = k_w * in_c, whole_row = p->dilation_w == 1;
    int8_t *out = output;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + b * p->in_h * in_w * in_c;
        for (int32_t y = 0; y < p->out_h; y++) {
            const int32_t y0 = y * p->stride_h - p->pad_top;
            for (int32_t x = 0; x < p->out_w; x++, out += out_c) {
                const int32_t x0 = x * p->stride_w - p->pad_left;
                const int inside_x = whole_row && x0 >= 0 && x0 + k_w <= in_w;
                LANES_START;
                const int8_t *wt = weights_t;
                for (int32_t ky = 0; ky < p->k_h; ky++) {
                    const int32_t iy = y0 + ky * p->dilation_h;
                    if (iy < 0 || iy >= p->in_h) {
                        wt += row_taps * 4 * G;
                        continue;
                    }
                    const int8_t *src_row = in_b + iy * in_w * in_c;
                    if (inside_x) {
                        const int8_t *src = src_row + x0 * in_c;
                        LANES_TAPS(src, row_taps);
                        continue;
                    }
                    for (int32_t kx = 0; kx < k_w; kx++) {
                        const int32_t ix = x0 + kx * p->dilation_w;
                        if (ix < 0 || ix >= in_w) {
                            wt += in_c * 4 * G;
                            continue;
                        }
                        const int8_t *src = src_row + ix * in_c;
                        LANES_TAPS(src, in_c);
                    }
                }
                LANES_STORE(out);
            }
        }
    }
}

void edgec_conv2d_s8_lanes_mve(const edgec_conv2d_s8_params *p, const int32_t *rec, const int8_t *weights_t,
                               const int8_t *input, int8_t *output) {
    const int32_t groups = (p->out_c + 3) / 4;
    if (p->rounding) {
        switch (groups) {
        case 1: lanes_run(p, rec, weights_t, input, output, 1, 1); break;
        case 2: lanes_run(p, rec, weights_t, input, output, 2, 1); break;
        case 3: lanes_run(p, rec, weights_t, input, output, 3, 1); break;
        default: lanes_run(p, rec, weights_t, input, output, 4, 1); break;
        }
    } else {
        switch (groups) {
        case 1: lanes_run(p, rec, weights_t, input, output, 1, 0); break;
        case 2: lanes_run(p, rec, weights_t, input, output, 2, 0); break;
        case 3: lanes_run(p, rec, weights_t, input, output, 3, 0); break;
        default: lanes_run(p, rec, weights_t, input, output, 4, 0); break;
        }
    }
}

void edgec_conv2d_s8_mve_records(const edgec_conv2d_s8_params *p, int32_t *rec) {
    for (int32_t g = 0; g < (p->out_c + 3) / 4; g++)
        for (int32_t i = 0; i < 4; i++) {
            const int32_t c = 4 * g + i, live = c < p->out_c;
            rec[16 * g + i] = live && p->bias ? p->bias[c] : 0;
            rec[16 * g + 4 + i] = live ? p->multiplier[c] : 0;
            rec[16 * g + 8 + i] = live ? edgec_max(p->shift[c], 0) : 0;
            rec[16 * g + 12 + i] = live ? edgec_min(p->shift[c], 0) : 0;
        }
}

void edgec_conv2d_s8_mve_channels(const edgec_conv2d_s8_params *p, const int32_t *bias_folded, int32_t *chan) {
    for (int32_t o = 0; o < p->out_c; o++) {
        chan[4 * o] = bias_folded[o], chan[4 * o + 1] = p->multiplier[o];
        chan[4 * o + 2] = edgec_max(p->shift[o], 0), chan[4 * o + 3] = edgec_min(p->shift[o], 0);
    }
}
