#include "fully_connected_s8_dsp.h"
#include "edgec_acle.h"
#include "edgec_dsp_out.h"
#include "edgec_fixedpoint.h"

/* Four inputs x0..x3 are one word; SXTAB16 with the input offset in both halves gives (x0 + off, x2 + off), its
 * ROR 8 form (x1 + off, x3 + off). Four weights of a row are one word; SXTB16 gives (w0, w2), SXTB16 ROR 8 (w1, w3):
 *   SMLAD((w0, w2), (x0', x2')) + SMLAD((w1, w3), (x1', x3')) = sum_k w_k (x_k + off).
 * x + off lies in [-255, 255] (zp in [-128, 127]), so the int16 halves hold it exactly and every product fits.
 * The accumulator starts at the bias and wraps modulo 2^32 like SMLAD; the portable kernel's int32 sum (bias added
 * last) is the same value whenever it does not overflow, which a valid model never does. */

/* acc + w * (x + off) for the depth % 4 last inputs, wrapping like SMLAD */
static inline int32_t fc_tail(int32_t acc, const int8_t *w, const int8_t *in, int32_t n, int32_t offset) {
    for (int32_t d = 0; d < n; d++) acc = edgec_wrap_add(acc, (int32_t)w[d] * ((int32_t)in[d] + offset));
    return acc;
}

/* the compile-time output stage (edgec_dsp_out.h) when the layer has one, else the portable requantization */
static inline int8_t fc_output(const edgec_fully_connected_s8_params *p, const int32_t *stage, int32_t acc,
                               int32_t o) {
    if (stage) return (int8_t)edgec_clamp(edgec_dsp_requant(acc, stage + o * EDGEC_DSP_OUT_WORDS), p->act_min,
                                          p->act_max);
    const int32_t c = p->per_channel ? o : 0;
    acc = edgec_requantize(acc, p->multiplier[c], p->shift[c], p->rounding) + p->output_offset;
    return (int8_t)edgec_clamp(acc, p->act_min, p->act_max);
}

/* one group of 4 inputs at x + d for the 4 rows of a block */
#define FC_GROUP4(d, x02_of, x13_of)                                                                  \
    do {                                                                                              \
        const int32_t xw = edgec_read_s8x4(x + (d));                                                  \
        const int32_t x02 = x02_of, x13 = x13_of;                                                     \
        int32_t w = edgec_read_s8x4(w01 + (d));                                                       \
        acc0 = edgec_smlad(edgec_sxtb16(w), x02, acc0);                                               \
        acc0 = edgec_smlad(edgec_sxtb16_ror8(w), x13, acc0);                                          \
        w = edgec_read_s8x4(w01 + depth + (d));                                                       \
        acc1 = edgec_smlad(edgec_sxtb16(w), x02, acc1);                                               \
        acc1 = edgec_smlad(edgec_sxtb16_ror8(w), x13, acc1);                                          \
        w = edgec_read_s8x4(w23 + (d));                                                               \
        acc2 = edgec_smlad(edgec_sxtb16(w), x02, acc2);                                               \
        acc2 = edgec_smlad(edgec_sxtb16_ror8(w), x13, acc2);                                          \
        w = edgec_read_s8x4(w23 + depth + (d));                                                       \
        acc3 = edgec_smlad(edgec_sxtb16(w), x02, acc3);                                               \
        acc3 = edgec_smlad(edgec_sxtb16_ror8(w), x13, acc3);                                          \
    } while (0)

/* GCC's first scheduling pass hoists the 4 weight loads of a block to its top, which needs more live registers than
 * the M4 has free in the 4-row loop (each iteration then spills and reloads 5 values, 35 instructions); without
 * that pass the loop is 27 instructions per 16 MACs with everything in registers (gcc 12, -O2) */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-schedule-insns")))
#endif
void edgec_fully_connected_s8_dsp(const edgec_fully_connected_s8_params *p, const int32_t *stage,
                                   const int8_t *input, int8_t *output) {
    const int32_t depth = p->depth, out_c = p->out_c, offset = p->input_offset;
    const int32_t groups = depth >> 2, rest = depth & 3;
    /* with a stage the inputs stay raw (its start values hold - zp * sum(w)) */
    const int32_t x_offset = stage ? 0 : offset;
    const int32_t offset2 = (int32_t)(((uint32_t)x_offset & 0xFFFFu) | ((uint32_t)x_offset << 16));
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *in = input + b * depth;
        int8_t *out = output + b * out_c;
        int32_t o = 0;
        for (; o + 4 <= out_c; o += 4) { /* 4 rows: each input word is widened once for all 4 */
            /* rows o, o + 1 through w01 (the second at + depth), rows o + 2, o + 3 through w23: two pointers and
             * register-offset loads keep the loop's 14 live values in the M4's registers */
            const int8_t *w01 = p->weights + o * depth, *w23 = w01 + 2 * depth;
            int32_t acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;
            if (stage) {
                const int32_t *st = stage + o * EDGEC_DSP_OUT_WORDS;
                acc0 = st[0], acc1 = st[EDGEC_DSP_OUT_WORDS], acc2 = st[2 * EDGEC_DSP_OUT_WORDS];
                acc3 = st[3 * EDGEC_DSP_OUT_WORDS];
            } else if (p->bias) {
                acc0 = p->bias[o], acc1 = p->bias[o + 1], acc2 = p->bias[o + 2], acc3 = p->bias[o + 3];
            }
            const int8_t *x = in;
            /* two groups of 4 inputs per iteration (the loop's pointer updates and branch once per 32 MACs), then
             * the odd group */
            const int8_t *x_end = in + 4 * (groups & ~1);
            if (stage) { /* raw inputs: the stage's start is the bias folded with the zero point */
                for (; x < x_end; x += 8, w01 += 8, w23 += 8) {
                    FC_GROUP4(0, edgec_sxtb16(xw), edgec_sxtb16_ror8(xw));
                    FC_GROUP4(4, edgec_sxtb16(xw), edgec_sxtb16_ror8(xw));
                }
                if (groups & 1) {
                    FC_GROUP4(0, edgec_sxtb16(xw), edgec_sxtb16_ror8(xw));
                    x += 4, w01 += 4, w23 += 4;
                }
            } else {
                for (; x < x_end; x += 8, w01 += 8, w23 += 8) {
                    FC_GROUP4(0, edgec_sxtab16(offset2, xw), edgec_sxtab16_ror8(offset2, xw));
                    FC_GROUP4(4, edgec_sxtab16(offset2, xw), edgec_sxtab16_ror8(offset2, xw));
                }
                if (groups & 1) {
                    FC_GROUP4(0, edgec_sxtab16(offset2, xw), edgec_sxtab16_ror8(offset2, xw));
                    x += 4, w01 += 4, w23 += 4;
                }
            }
            if (rest) {
                acc0 = fc_tail(acc0, w01, x, rest, x_offset), acc1 = fc_tail(acc1, w01 + depth, x, rest, x_offset);
                acc2 = fc_tail(acc2, w23, x, rest, x_offset), acc3 = fc_tail(acc3, w23 + depth, x, rest, x_offset);
            }
            out[o] = fc_output(p, stage, acc0, o), out[o + 1] = fc_output(p, stage, acc1, o + 1);
            out[o + 2] = fc_output(p, stage, acc2, o + 2), out[o + 3] = fc_output(p, stage, acc3, o + 3);
        }
        for (; o < out_c; o++) { /* the out_c % 4 last rows, one at a time */
            const int8_t *w0 = p->weights + o * depth, *x = in;
            int32_t acc = stage ? stage[o * EDGEC_DSP_OUT_WORDS] : (p->bias ? p->bias[o] : 0);
            for (int32_t g = 0; g < groups; g++, x += 4, w0 += 4) {
                const int32_t xw = edgec_read_s8x4(x), w = edgec_read_s8x4(w0);
                acc = edgec_smlad(edgec_sxtb16(w), edgec_sxtab16(offset2, xw), acc);
                acc = edgec_smlad(edgec_sxtb16_ror8(w), edgec_sxtab16_ror8(offset2, xw), acc);
            }
            out[o] = fc_output(p, stage, fc_tail(acc, w0, x, rest, x_offset), o);
        }
    }
}

/* 4 rows of a block: acc[r] += sum over `groups` groups of 4 raw inputs from x of row r's int16 weights from w (16
 * int16 per group, fully_connected_s8_dsp.h). Per group: LDR, 2 SXTB16 of the inputs, 4 LDRD, 8 SMLAD; two groups
 * per loop iteration: 32 instructions per 32 MACs. Returns w past the block. */
static inline const int16_t *fc_block16(const int8_t *x, const int16_t *w, int32_t groups, int32_t acc[4]) {
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
#if EDGEC_HAVE_DSP
    int32_t t, q, u, v;
#define FC_GROUP16                                                                                        \
    "ldr %[t], [%[x]], #4\n\t"                                                                          \
    "sxtb16 %[q], %[t]\n\t"                                                                             \
    "sxtb16 %[t], %[t], ror #8\n\t"                                                                     \
    "ldrd %[u], %[v], [%[w]], #32\n\t"                                                                  \
    "smlad %[a0], %[u], %[q], %[a0]\n\t"                                                                \
    "smlad %[a0], %[v], %[t], %[a0]\n\t"                                                                \
    "ldrd %[u], %[v], [%[w], #-24]\n\t"                                                                 \
    "smlad %[a1], %[u], %[q], %[a1]\n\t"                                                                \
    "smlad %[a1], %[v], %[t], %[a1]\n\t"                                                                \
    "ldrd %[u], %[v], [%[w], #-16]\n\t"                                                                 \
    "smlad %[a2], %[u], %[q], %[a2]\n\t"                                                                \
    "smlad %[a2], %[v], %[t], %[a2]\n\t"                                                                \
    "ldrd %[u], %[v], [%[w], #-8]\n\t"                                                                  \
    "smlad %[a3], %[u], %[q], %[a3]\n\t"                                                                \
    "smlad %[a3], %[v], %[t], %[a3]\n\t"
#define FC_OPERANDS                                                                                       \
    [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "+r"(x), [w] "+r"(w), [t] "=&r"(t),   \
        [q] "=&r"(q), [u] "=&r"(u), [v] "=&r"(v)
    if (groups & 1) __asm__(FC_GROUP16 : FC_OPERANDS : : "memory");
    if (groups >= 2) {
        const int8_t *const end = x + 4 * (groups & ~1);
        __asm__("1:\n\t" FC_GROUP16 FC_GROUP16 "cmp %[x], %[end]\n\t"
        "bne 1b"
                : FC_OPERANDS
                : [end] "r"(end)
                : "cc", "memory");
    }
#undef FC_GROUP16
#undef FC_OPERANDS
#else
    for (int32_t g = 0; g < groups; g++, x += 4, w += 16) {
        const int32_t xw = edgec_read_s8x4(x), x02 = edgec_sxtb16(xw), x13 = edgec_sxtb16_ror8(xw);
        a0 = edgec_smlad(edgec_read_s16x2(w + 2), x13, edgec_smlad(edgec_read_s16x2(w), x02, a0));
        a1 = edgec_smlad(edgec_read_s16x2(w + 6), x13, edgec_smlad(edgec_read_s16x2(w + 4), x02, a1));
        a2 = edgec_smlad(edgec_read_s16x2(w + 10), x13, edgec_smlad(edgec_read_s16x2(w + 8), x02, a2));
        a3 = edgec_smlad(edgec_read_s16x2(w + 14), x13, edgec_smlad(edgec_read_s16x2(w + 12), x02, a3));
    }
#endif
    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
    return w;
}

void edgec_fully_connected_s8_dsp_w16(const edgec_fully_connected_s8_params *p, const int32_t *stage,
                                      const int16_t *weights16, const int8_t *input, int8_t *output) {
    const int32_t depth = p->depth, out_c = p->out_c, groups = depth >> 2, rest = depth & 3;
    const int32_t blocks = out_c >> 2, lo = p->act_min, hi = p->act_max;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *in = input + b * depth;
        int8_t *out = output + b * out_c;
        const int16_t *w = weights16;
        const int32_t *c = stage;
        for (int32_t k = 0; k < blocks; k++, c += 4 * EDGEC_DSP_OUT_WORDS) {
            int32_t acc[4] = {c[0], c[EDGEC_DSP_OUT_WORDS], c[2 * EDGEC_DSP_OUT_WORDS], c[3 * EDGEC_DSP_OUT_WORDS]};
            w = fc_block16(in, w, groups, acc);
            const int32_t o = 4 * k;
            for (int32_t r = 0; r < 4; r++) {
                if (rest) acc[r] = fc_tail(acc[r], p->weights + (o + r) * depth + 4 * groups, in + 4 * groups, rest, 0);
                out[o + r] = (int8_t)edgec_clamp(edgec_dsp_requant(acc[r], c + r * EDGEC_DSP_OUT_WORDS), lo, hi);
            }
        }
        if (4 * blocks < out_c) { /* the out_c % 4 last rows: the int8 kernel on them alone */
            edgec_fully_connected_s8_params q = *p;
            q.batches = 1, q.out_c = out_c - 4 * blocks, q.weights = p->weights + 4 * blocks * depth;
            edgec_fully_connected_s8_dsp(&q, stage + 4 * blocks * EDGEC_DSP_OUT_WORDS, in, out + 4 * blocks);
        }
    }
}

/* ---- edgec_fully_connected_s8_dsp_rec: the compile-time records (fully_connected_s8_dsp.h) ---------------------- */

#if EDGEC_HAVE_DSP && defined(__thumb2__)
/* (records, 8 input bytes (zero-padded past depth), output, out_c % 4): the depth <= 8 rows, 4 per turn of the
 * loop. Registers: r0 records, r1 output, r2..r5 the input pairs (x0, x2) (x1, x3) (x4, x6) (x5, x7), r6 the sum,
 * r7..r10 weights then the result, r11 M, r12 round, lr R. A count not a multiple of 4 enters the loop at its
 * (4 - out_c % 4)th row; the R of the turn's fourth row holds the turns left. */
void edgec_fc_rec_rows_asm(const int32_t *records, const int8_t *x8, int8_t *output, int32_t entry);
/* one row: its record by one LDM, 4 SMLAD, the stage (edgec_dsp_out.h without the LSL), the store */
#define EDGEC_FC_REC_ROW                                                                                \
    "ldm r0!, {r6-r12, lr}\n\t"                                                                         \
    "smlad r6, r7, r2, r6\n\t"                                                                          \
    "smlad r6, r8, r3, r6\n\t"                                                                          \
    "smlad r6, r9, r4, r6\n\t"                                                                          \
    "smlad r6, r10, r5, r6\n\t"                                                                         \
    "smmlar r7, r6, r11, r12\n\t"                                                                       \
    "add r7, r7, r6, asr #31\n\t"                                                                       \
    "asr r7, r7, lr\n\t"                                                                                \
    "ssat r7, #8, r7\n\t"                                                                               \
    "strb r7, [r1], #1\n"
__asm__(".syntax unified\n\t"
        ".section .text.edgec_fc_rec_rows_asm,\"ax\",%progbits\n\t"
        ".balign 4\n\t"
        ".global edgec_fc_rec_rows_asm\n\t"
        ".thumb\n\t"
        ".thumb_func\n\t"
        ".type edgec_fc_rec_rows_asm, %function\n"
        "edgec_fc_rec_rows_asm:\n\t"
        "push {r4-r11, lr}\n\t"
        "mov r12, r3\n\t"
        "ldr r7, [r1]\n\t"
        "ldr r8, [r1, #4]\n\t"
        "mov r1, r2\n\t"
        "sxtb16 r2, r7\n\t"
        "sxtb16 r3, r7, ror #8\n\t"
        "sxtb16 r4, r8\n\t"
        "sxtb16 r5, r8, ror #8\n\t"
        "cmp r12, #1\n\t"
        "beq 4f\n\t"
        "cmp r12, #2\n\t"
        "beq 3f\n\t"
        "cmp r12, #3\n\t"
        "beq 2f\n"
        "1:\n\t" EDGEC_FC_REC_ROW "2:\n\t" EDGEC_FC_REC_ROW "3:\n\t" EDGEC_FC_REC_ROW "4:\n\t" EDGEC_FC_REC_ROW
        "cmp lr, #256\n\t"
        "bhs 1b\n\t"
        "pop {r4-r11, pc}\n\t"
        ".size edgec_fc_rec_rows_asm, .-edgec_fc_rec_rows_asm\n\t"
        ".text");

/* (records, input end (past the 4 G bytes), output): the blocks of 4 rows, the last one's R ending the loop; returns
 * the records past them (r0).
 * Registers: r0 records, r1 input end, r2 output, r3 input, r4..r7 the 4 sums, r8..r11 weights (then M, round, R,
 * results), r12 and lr the input pairs (then M, round, R of the odd rows). */
const int32_t *edgec_fc_rec_blocks_asm(const int32_t *records, const int8_t *x_end, int8_t *output);
/* one group of 4 inputs x 4 rows: LDR, 2 SXTB16, 2 LDM, 8 SMLAD (a turn of 4 groups: 54 per 64 MACs) */
#define EDGEC_FC_REC_GROUP                                                                          \
    "ldr lr, [r3], #4\n\t"                                                                          \
    "sxtb16 r12, lr\n\t"                                                                            \
    "sxtb16 lr, lr, ror #8\n\t"                                                                     \
    EDGEC_DSP_REC_SMLAD_4X4
__asm__(".syntax unified\n\t"
        ".section .text.edgec_fc_rec_blocks_asm,\"ax\",%progbits\n\t"
        ".balign 4\n\t"
        ".global edgec_fc_rec_blocks_asm\n\t"
        ".thumb\n\t"
        ".thumb_func\n\t"
        ".type edgec_fc_rec_blocks_asm, %function\n"
        "edgec_fc_rec_blocks_asm:\n\t"
        "push {r4-r11, lr}\n"
        "1:\n\t"
        "ldm r0!, {r4-r8}\n\t"
        "sub r3, r1, r8\n\t"
        "lsls r8, r8, #29\n\t" /* N: G odd (bit 2 of 4 G), C: G / 2 odd (bit 3) */
        "bpl 2f\n\t" EDGEC_FC_REC_GROUP /* an odd G: one group first */
        "2:\n\t"
        "bcs 4f\n" /* then turns of 4 groups, the first entered at its half when G / 2 is odd (G >= 3) */
        "3:\n\t" EDGEC_FC_REC_GROUP EDGEC_FC_REC_GROUP
        "4:\n\t" EDGEC_FC_REC_GROUP EDGEC_FC_REC_GROUP
        "cmp r3, r1\n\t"
        "bne 3b\n\t"
        "ldm r0!, {r8-r12, lr}\n\t"
        "smmlar r8, r4, r8, r9\n\t"
        "add r8, r8, r4, asr #31\n\t"
        "asr r8, r8, r10\n\t"
        "ssat r8, #8, r8\n\t"
        "strb r8, [r2], #1\n\t"
        "smmlar r11, r5, r11, r12\n\t"
        "add r11, r11, r5, asr #31\n\t"
        "asr r11, r11, lr\n\t"
        "ssat r11, #8, r11\n\t"
        "strb r11, [r2], #1\n\t"
        "ldm r0!, {r8-r12, lr}\n\t"
        "smmlar r8, r6, r8, r9\n\t"
        "add r8, r8, r6, asr #31\n\t"
        "asr r8, r8, r10\n\t"
        "ssat r8, #8, r8\n\t"
        "strb r8, [r2], #1\n\t"
        "smmlar r11, r7, r11, r12\n\t"
        "add r11, r11, r7, asr #31\n\t"
        "asr r11, r11, lr\n\t"
        "ssat r11, #8, r11\n\t"
        "strb r11, [r2], #1\n\t"
        "cmp lr, #256\n\t"
        "bhs 1b\n\t"
        "pop {r4-r11, pc}\n\t"
        ".size edgec_fc_rec_blocks_asm, .-edgec_fc_rec_blocks_asm\n\t"
        ".text");

/* The last out_c % 4 rows (or every row of a 1-3 row layer), one block of n rows in the block records' form
 * ([s x n, 4 G], G groups of 2 n weight words, [M, round, R] x n): (records, input end, output). A count of groups
 * G >= 3 (depth > 8). */
/* 3 rows, per group of 4 inputs LDR, 2 SXTB16, one LDM of the 6 weight words, 6 SMLAD (10 per 12 MACs; a turn of 4
 * groups: 42 per 48 MACs). All 14 registers in the loop: r0 records, r1 input end, r3 input, r4..r6 the sums,
 * r7..r12 the weights, r2 and lr the input pairs (the output pointer waits on the stack). */
void edgec_fc_rec_rows3_asm(const int32_t *records, const int8_t *x_end, int8_t *output);
#define EDGEC_FC_REC_GROUP3                                                                            \
    "ldr lr, [r3], #4\n\t"                                                                              \
    "sxtb16 r2, lr\n\t"                                                                                 \
    "sxtb16 lr, lr, ror #8\n\t"                                                                         \
    "ldm r0!, {r7-r12}\n\t"                                                                             \
    "smlad r4, r7, r2, r4\n\t"                                                                          \
    "smlad r4, r8, lr, r4\n\t"                                                                          \
    "smlad r5, r9, r2, r5\n\t"                                                                          \
    "smlad r5, r10, lr, r5\n\t"                                                                         \
    "smlad r6, r11, r2, r6\n\t"                                                                         \
    "smlad r6, r12, lr, r6\n\t"
/* the output stage: EDGEC_DSP_OUT_ASM (edgec_dsp_out.h) */
__asm__(".syntax unified\n\t"
        ".section .text.edgec_fc_rec_rows3_asm,\"ax\",%progbits\n\t"
        ".balign 4\n\t"
        ".global edgec_fc_rec_rows3_asm\n\t"
        ".thumb\n\t"
        ".thumb_func\n\t"
        ".type edgec_fc_rec_rows3_asm, %function\n"
        "edgec_fc_rec_rows3_asm:\n\t"
        "push {r2, r4-r11, lr}\n\t"
        "ldm r0!, {r4-r7}\n\t"
        "sub r3, r1, r7\n\t"
        "lsls r7, r7, #29\n\t" /* as the blocks of 4: an odd G's group first, then turns of 4 groups */
        "bpl 1f\n\t" EDGEC_FC_REC_GROUP3
        "1:\n\t"
        "bcs 3f\n"
        "2:\n\t" EDGEC_FC_REC_GROUP3 EDGEC_FC_REC_GROUP3
        "3:\n\t" EDGEC_FC_REC_GROUP3 EDGEC_FC_REC_GROUP3
        "cmp r3, r1\n\t"
        "bne 2b\n\t"
        "pop {r2}\n\t"
        "ldm r0!, {r7-r12}\n\t" EDGEC_DSP_OUT_ASM("r4", "r7", "r8", "r9") EDGEC_DSP_OUT_ASM("r5", "r10", "r11", "r12")
        "ldm r0!, {r7-r9}\n\t" EDGEC_DSP_OUT_ASM("r6", "r7", "r8", "r9")
        "pop {r4-r11, pc}\n\t"
        ".size edgec_fc_rec_rows3_asm, .-edgec_fc_rec_rows3_asm\n\t"
        ".text");

/* 2 rows, per group LDR, 2 SXTB16, one LDM of 4 weight words, 4 SMLAD (8 per 8 MACs; 34 per 32 MACs a turn).
 * r0 records, r1 input end, r2 output, r3 input, r4 r5 the sums, r6..r9 the weights, r12 and lr the input pairs */
void edgec_fc_rec_rows2_asm(const int32_t *records, const int8_t *x_end, int8_t *output);
#define EDGEC_FC_REC_GROUP2                                                                            \
    "ldr lr, [r3], #4\n\t"                                                                              \
    "sxtb16 r12, lr\n\t"                                                                                \
    "sxtb16 lr, lr, ror #8\n\t"                                                                         \
    "ldm r0!, {r6-r9}\n\t"                                                                              \
    "smlad r4, r6, r12, r4\n\t"                                                                         \
    "smlad r4, r7, lr, r4\n\t"                                                                          \
    "smlad r5, r8, r12, r5\n\t"                                                                         \
    "smlad r5, r9, lr, r5\n\t"
__asm__(".syntax unified\n\t"
        ".section .text.edgec_fc_rec_rows2_asm,\"ax\",%progbits\n\t"
        ".balign 4\n\t"
        ".global edgec_fc_rec_rows2_asm\n\t"
        ".thumb\n\t"
        ".thumb_func\n\t"
        ".type edgec_fc_rec_rows2_asm, %function\n"
        "edgec_fc_rec_rows2_asm:\n\t"
        "push {r4-r11, lr}\n\t"
        "ldm r0!, {r4-r6}\n\t"
        "sub r3, r1, r6\n\t"
        "lsls r6, r6, #29\n\t"
        "bpl 1f\n\t" EDGEC_FC_REC_GROUP2
        "1:\n\t"
        "bcs 3f\n"
        "2:\n\t" EDGEC_FC_REC_GROUP2 EDGEC_FC_REC_GROUP2
        "3:\n\t" EDGEC_FC_REC_GROUP2 EDGEC_FC_REC_GROUP2
        "cmp r3, r1\n\t"
        "bne 2b\n\t"
        "ldm r0!, {r6-r11}\n\t" EDGEC_DSP_OUT_ASM("r4", "r6", "r7", "r8") EDGEC_DSP_OUT_ASM("r5", "r9", "r10", "r11")
        "pop {r4-r11, pc}\n\t"
        ".size edgec_fc_rec_rows2_asm, .-edgec_fc_rec_rows2_asm\n\t"
        ".text");

/* 1 row, per two groups one LDM of 4 weight words, 2 x (LDR, 2 SXTB16, 2 SMLAD) (11 per 8 MACs; 24 per 16 MACs a
 * turn of 4 groups, entered at its second half when G / 2 is odd). r0 records, r1 input end, r2 output, r3 input,
 * r4 the sum, r5..r8 the weights, r12 and lr the input pairs */
void edgec_fc_rec_rows1_asm(const int32_t *records, const int8_t *x_end, int8_t *output);
#define EDGEC_FC_REC_HALF1(wa, wb)                                                                     \
    "ldr lr, [r3], #4\n\t"                                                                              \
    "sxtb16 r12, lr\n\t"                                                                                \
    "sxtb16 lr, lr, ror #8\n\t"                                                                         \
    "smlad r4, " wa ", r12, r4\n\t"                                                                     \
    "smlad r4, " wb ", lr, r4\n\t"
__asm__(".syntax unified\n\t"
        ".section .text.edgec_fc_rec_rows1_asm,\"ax\",%progbits\n\t"
        ".balign 4\n\t"
        ".global edgec_fc_rec_rows1_asm\n\t"
        ".thumb\n\t"
        ".thumb_func\n\t"
        ".type edgec_fc_rec_rows1_asm, %function\n"
        "edgec_fc_rec_rows1_asm:\n\t"
        "push {r4-r8, lr}\n\t"
        "ldm r0!, {r4, r12}\n\t"
        "sub r3, r1, r12\n\t"
        "lsls r12, r12, #29\n\t" /* N: G odd (bit 2 of 4 G), C: G / 2 odd (bit 3); the loop sets no flags */
        "bpl 1f\n\t"
        "ldm r0!, {r5, r6}\n\t" EDGEC_FC_REC_HALF1("r5", "r6")
        "1:\n\t"
        "bcs 3f\n"
        "2:\n\t"
        "ldm r0!, {r5-r8}\n\t" EDGEC_FC_REC_HALF1("r5", "r6") EDGEC_FC_REC_HALF1("r7", "r8")
        "3:\n\t"
        "ldm r0!, {r5-r8}\n\t" EDGEC_FC_REC_HALF1("r5", "r6") EDGEC_FC_REC_HALF1("r7", "r8")
        "cmp r3, r1\n\t"
        "bne 2b\n\t"
        "ldm r0!, {r5-r7}\n\t"
        "smmlar r5, r4, r5, r6\n\t"
        "add r5, r5, r4, asr #31\n\t"
        "asr r5, r5, r7\n\t"
        "ssat r5, #8, r5\n\t"
        "strb r5, [r2]\n\t"
        "pop {r4-r8, pc}\n\t"
        ".size edgec_fc_rec_rows1_asm, .-edgec_fc_rec_rows1_asm\n\t"
        ".text");
#else
/* the same steps in C (the host, and cores without the DSP extension's Thumb-2 encodings) */
static int32_t fc_rec_requant(int32_t a2, const int32_t *c) { /* c: M, round, R */
    const int32_t t = (int32_t)((uint32_t)edgec_smmlar(a2, c[0], c[1]) + (uint32_t)(a2 >> 31));
    return edgec_ssat8(t >> (c[2] & 0xFF));
}

static void edgec_fc_rec_rows_asm(const int32_t *records, const int8_t *x8, int8_t *output, int32_t entry) {
    const int32_t lo = edgec_read_s8x4(x8), hi = edgec_read_s8x4(x8 + 4);
    const int32_t x02 = edgec_sxtb16(lo), x13 = edgec_sxtb16_ror8(lo);
    const int32_t x46 = edgec_sxtb16(hi), x57 = edgec_sxtb16_ror8(hi);
    int32_t pos = (4 - entry) & 3; /* the row's place in the turn of 4: the fourth holds the turns left */
    for (;; records += 8, pos = (pos + 1) & 3) {
        const int32_t *r = records;
        int32_t a = edgec_smlad(r[1], x02, r[0]);
        a = edgec_smlad(r[4], x57, edgec_smlad(r[3], x46, edgec_smlad(r[2], x13, a)));
        *output++ = (int8_t)fc_rec_requant(a, r + 5);
        if (pos == 3 && (uint32_t)r[7] < 256u) return;
    }
}

/* one block of n rows (n = 1..4) in the block records' form; returns the records past it */
static const int32_t *fc_rec_block(const int32_t *records, const int8_t *x_end, int8_t *output, int32_t n) {
    int32_t a[4] = {0, 0, 0, 0};
    for (int32_t r = 0; r < n; r++) a[r] = records[r];
    const int8_t *x = x_end - records[n];
    records += n + 1;
    for (; x != x_end; x += 4, records += 2 * n) {
        const int32_t xw = edgec_read_s8x4(x), x02 = edgec_sxtb16(xw), x13 = edgec_sxtb16_ror8(xw);
        for (int32_t r = 0; r < n; r++)
            a[r] = edgec_smlad(records[2 * r + 1], x13, edgec_smlad(records[2 * r], x02, a[r]));
    }
    for (int32_t r = 0; r < n; r++) *output++ = (int8_t)fc_rec_requant(a[r], records + 3 * r);
    return records + 3 * n;
}

static const int32_t *edgec_fc_rec_blocks_asm(const int32_t *records, const int8_t *x_end, int8_t *output) {
    for (;; output += 4) {
        records = fc_rec_block(records, x_end, output, 4);
        if ((uint32_t)records[-1] < 256u) return records;
    }
}

static void edgec_fc_rec_rows3_asm(const int32_t *records, const int8_t *x_end, int8_t *output) {
    fc_rec_block(records, x_end, output, 3);
}

static void edgec_fc_rec_rows2_asm(const int32_t *records, const int8_t *x_end, int8_t *output) {
    fc_rec_block(records, x_end, output, 2);
}

static void edgec_fc_rec_rows1_asm(const int32_t *records, const int8_t *x_end, int8_t *output) {
    fc_rec_block(records, x_end, output, 1);
}
#endif

/* depth > 8: the blocks of 4 rows, then one block of the out_c % 4 last rows, reading the input up to x_end */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline void fc_rec_wide(const int32_t *records, const int8_t *x_end, int32_t out_c, int8_t *out) {
    if (out_c >= 4) records = edgec_fc_rec_blocks_asm(records, x_end, out), out += out_c & ~3;
    switch (out_c & 3) {
    case 1: edgec_fc_rec_rows1_asm(records, x_end, out); break;
    case 2: edgec_fc_rec_rows2_asm(records, x_end, out); break;
    case 3: edgec_fc_rec_rows3_asm(records, x_end, out); break;
    default: break;
    }
}

/* a depth not a multiple of 4: the records read a zero-padded copy (its own frame: only these layers pay the
 * stack) */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void fc_rec_wide_padded(const int32_t *records, const int8_t *in, int32_t depth, int32_t out_c, int8_t *out) {
    int32_t pad[EDGEC_FC_REC_PAD / 4];
    const int32_t whole = depth >> 2; /* whole words, then the depth % 4 last inputs with zero bytes above them */
    for (int32_t i = 0; i < whole; i++) pad[i] = edgec_read_s8x4(in + 4 * i);
    uint32_t last = 0;
    for (int32_t d = depth - 1; d >= 4 * whole; d--) last = (last << 8) | (uint8_t)in[d];
    pad[whole] = (int32_t)last;
    fc_rec_wide(records, (const int8_t *)(pad + whole + 1), out_c, out);
}

void edgec_fully_connected_s8_dsp_rec(const edgec_fully_connected_s8_params *p, const int32_t *records,
                                      const int8_t *input, int8_t *output) {
    const int32_t depth = p->depth, out_c = p->out_c;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *in = input + b * depth;
        int8_t *out = output + b * out_c;
        if (depth > 8 && !(depth & 3)) {
            fc_rec_wide(records, in + depth, out_c, out);
        } else if (depth > 8) {
            fc_rec_wide_padded(records, in, depth, out_c, out);
        } else if (depth == 8) { /* every row: the input in registers */
            edgec_fc_rec_rows_asm(records, in, out, out_c & 3);
        } else { /* the same from a zero-padded copy */
            int8_t x8[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            for (int32_t d = 0; d < depth; d++) x8[d] = in[d];
            edgec_fc_rec_rows_asm(records, x8, out, out_c & 3);
        }
    }
}
