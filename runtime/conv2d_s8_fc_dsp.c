#include "conv2d_s8_fc_dsp.h"

#include "edgec_acle.h"
#include "edgec_dsp_out.h"
#include "edgec_fixedpoint.h"

/* A 1x1 conv is a fully connected layer over its pixels. The 2 x 2 block kernel (conv2d_s8_dsp.c) pays, per pair of
 * pixels, the widening, the block setup, the sums through the stack and a requantization pass: about 20
 * instructions per output, which outweigh its multiply loop when in_c is small (30 per output at in_c 8). Here,
 * from compile-time records (conv2d_s8_fc_dsp.h), pixel by pixel:
 *   in_c <= 8: the pixel's 8 inputs (zero weights past in_c) widened into 4 registers, then one LDM of a channel's
 *     record, 4 SMLAD and the stage (10.5 instructions per 8 MACs), the pixel loop in the same assembly.
 *   in_c > 8: the pixel's inputs widened once into int16 pairs on the stack ((x0, x2), (x1, x3) per group of 4),
 *     then blocks of 4 channels by the assembly loop below (a group of 4 inputs x 4 channels: LDRD, 2 LDM, 8
 *     SMLAD), the out_c % 4 last channels in C.
 * The records' start holds - zp * sum(w), so the inputs stay raw. A pixel's inputs are read (into registers or the
 * stack) before any of its outputs is written, so in place (input == output) holds pixel by pixel in this order:
 * out_c <= in_c, pixels ascending: pixel q's outputs end at (q + 1) out_c <= (q + 1) in_c, over its own (read)
 * inputs and earlier pixels (consumed); out_c > in_c, descending: they start at q out_c >= q in_c, over its own
 * inputs and later pixels (consumed). The sums wrap modulo 2^32 like SMLAD and equal the stage's a2 = acc 2^pre
 * (pre folded into the weights and the start): exact whenever the stage is, as the compiler checks. */

/* in_c <= 8, the rows: per pixel its 8 inputs (zero weights past in_c) widened into 4 registers, then one record
 * per channel: [s, (w0, w2), (w1, w3), (w4, w6), (w5, w7), M, round, R], R = e | (turns of 4 channels left << 8)
 * on the channels with out_c - 1 - o a multiple of 4; out_c % 4 channels enter the loop of 4 part way. */
typedef struct {
    const int32_t *records;
    const int8_t *in; /* the next pixel's inputs */
    int32_t in_step;  /* +-in_c */
    int32_t out_skip; /* added to the output pointer after a pixel's out_c outputs: 0 or -2 out_c */
    int32_t left;     /* pixels left */
    int32_t entry;    /* out_c % 4 */
} edgec_pw_rows_ctl;

#if EDGEC_HAVE_DSP && defined(__thumb2__)
/* (ctl, output): the pixels of ctl, each its 8 input bytes by 2 LDR (in_c < 8 reads past the pixel: the caller
 * keeps the pixel at the highest address out). Registers in the channel loop: r0 records, r1 output, r2..r5 the
 * input pairs (x0, x2) (x1, x3) (x4, x6) (x5, x7), r6 the sum, r7..r10 weights then the result, r11 M, r12 round,
 * lr R; ctl at [sp]. */
void edgec_pw_rows_asm(edgec_pw_rows_ctl *ctl, int8_t *output);
/* one channel: its record by one LDM, 4 SMLAD, the stage (edgec_dsp_out.h without the LSL), the store */
#define EDGEC_PW_ROW                                                                                    \
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
        ".section .text.edgec_pw_rows_asm,\"ax\",%progbits\n\t"
        ".balign 4\n\t"
        ".global edgec_pw_rows_asm\n\t"
        ".thumb\n\t"
        ".thumb_func\n\t"
        ".type edgec_pw_rows_asm, %function\n"
        "edgec_pw_rows_asm:\n\t"
        "push {r0, r4-r11, lr}\n"
        "6:\n\t"
        "ldr lr, [sp]\n\t"
        "ldm lr, {r0, r6, r7, r8, r9, r10}\n\t" /* records, in, in_step, out_skip, left, entry */
        "ldr r11, [r6]\n\t"
        "ldr r12, [r6, #4]\n\t"
        "add r6, r6, r7\n\t"
        "subs r9, r9, #1\n\t"
        "str r6, [lr, #4]\n\t"
        "str r9, [lr, #16]\n\t"
        "sxtb16 r2, r11\n\t"
        "sxtb16 r3, r11, ror #8\n\t"
        "sxtb16 r4, r12\n\t"
        "sxtb16 r5, r12, ror #8\n\t"
        "cmp r10, #0\n\t"
        "beq 1f\n\t"
        "cmp r10, #2\n\t"
        "beq 3f\n\t"
        "bhi 2f\n\t"
        "b 4f\n"
        "1:\n\t" EDGEC_PW_ROW "2:\n\t" EDGEC_PW_ROW "3:\n\t" EDGEC_PW_ROW "4:\n\t" EDGEC_PW_ROW
        "cmp lr, #256\n\t"
        "bhs 1b\n\t"
        "ldr lr, [sp]\n\t"
        "ldrd r8, r9, [lr, #12]\n\t" /* out_skip, left */
        "add r1, r1, r8\n\t"
        "cmp r9, #0\n\t"
        "bne 6b\n\t"
        "pop {r0, r4-r11, pc}\n\t"
        ".size edgec_pw_rows_asm, .-edgec_pw_rows_asm\n\t"
        ".text");
#undef EDGEC_PW_ROW
#endif

/* SMMLAR, ADD (the sign), ASR by R's low byte, SSAT: edgec_dsp_out.h's stage on a2 = acc 2^pre */
static inline int32_t edgec_pw_requant(int32_t a2, const int32_t *c) { /* c: M, round, R */
    const int32_t t = (int32_t)((uint32_t)edgec_smmlar(a2, c[0], c[1]) + (uint32_t)(a2 >> 31));
    return edgec_ssat8(t >> (c[2] & 0xFF));
}

/* one pixel from n <= 8 input bytes at in (zero past n), in C */
static void edgec_pw_rows_pixel(const int32_t *r, const int8_t *in, int32_t n, int32_t out_c, int8_t *out) {
    uint32_t lo = 0, hi = 0;
    for (int32_t j = 0; j < n; j++) {
        const uint32_t b = (uint32_t)(uint8_t)in[j];
        if (j < 4) lo |= b << (8 * j);
        else hi |= b << (8 * (j - 4));
    }
    const int32_t x02 = edgec_sxtb16((int32_t)lo), x13 = edgec_sxtb16_ror8((int32_t)lo);
    const int32_t x46 = edgec_sxtb16((int32_t)hi), x57 = edgec_sxtb16_ror8((int32_t)hi);
    for (int32_t o = 0; o < out_c; o++, r += 8) {
        const int32_t a = edgec_smlad(r[4], x57, edgec_smlad(r[3], x46, edgec_smlad(r[2], x13,
                                                                                  edgec_smlad(r[1], x02, r[0]))));
        out[o] = (int8_t)edgec_pw_requant(a, r + 5);
    }
}

/* in_c <= 8: pixel by pixel (its inputs in registers before any of its outputs is written: in place holds) */
static void edgec_pw_rows(const edgec_conv2d_s8_params *p, const int32_t *records, const int8_t *input,
                          int8_t *output) {
    const int32_t in_c = p->in_c, out_c = p->out_c, pixels = p->batches * p->in_h * p->in_w;
    const int32_t forward = out_c <= in_c;
#if EDGEC_HAVE_DSP && defined(__thumb2__)
    /* in_c < 8: the pixel at the highest address (the last forward, the first backward) from a padded copy in C, so
     * the 2 LDR of the others stay inside the buffer */
    const int32_t last = in_c < 8 && pixels > 0 ? 1 : 0, asm_pixels = pixels - last;
    if (last && !forward)
        edgec_pw_rows_pixel(records, input + (pixels - 1) * in_c, in_c, out_c, output + (pixels - 1) * out_c);
    if (asm_pixels > 0) {
        edgec_pw_rows_ctl ctl;
        ctl.records = records, ctl.left = asm_pixels, ctl.entry = out_c & 3;
        ctl.in = forward ? input : input + (asm_pixels - 1) * in_c;
        ctl.in_step = forward ? in_c : -in_c, ctl.out_skip = forward ? 0 : -2 * out_c;
        edgec_pw_rows_asm(&ctl, forward ? output : output + (asm_pixels - 1) * out_c);
    }
    if (last && forward)
        edgec_pw_rows_pixel(records, input + (pixels - 1) * in_c, in_c, out_c, output + (pixels - 1) * out_c);
#else
    for (int32_t u = 0; u < pixels; u++) {
        const int32_t q = forward ? u : pixels - 1 - u;
        edgec_pw_rows_pixel(records, input + q * in_c, in_c, out_c, output + q * out_c);
    }
#endif
}

#if EDGEC_HAVE_DSP && defined(__thumb2__)
/* (records, widened inputs' end, output): the blocks of 4 channels of one pixel, the last block's R ending the
 * loop. Registers: r0 records, r1 inputs' end, r2 output, r3 inputs, r4..r7 the 4 sums, r8..r11 weights (then M,
 * round, R, results), r12 and lr the input pairs (then M, round, R of the odd channels). */
void edgec_pw_blocks_asm(const int32_t *records, const int32_t *x_end, int8_t *output);
/* one group of 4 inputs x 4 channels: LDRD, 2 LDM, 8 SMLAD; 4 groups a turn of the loop */
#define EDGEC_PW_GROUP                                                                              \
    "ldrd r12, lr, [r3], #8\n\t"                                                                    \
    EDGEC_DSP_REC_SMLAD_4X4
/* the output stage: EDGEC_DSP_OUT_ASM (edgec_dsp_out.h) */
__asm__(".syntax unified\n\t"
        ".section .text.edgec_pw_blocks_asm,\"ax\",%progbits\n\t"
        ".balign 4\n\t"
        ".global edgec_pw_blocks_asm\n\t"
        ".thumb\n\t"
        ".thumb_func\n\t"
        ".type edgec_pw_blocks_asm, %function\n"
        "edgec_pw_blocks_asm:\n\t"
        "push {r4-r11, lr}\n"
        "1:\n\t"
        "ldm r0!, {r4-r8}\n\t"
        "sub r3, r1, r8\n\t"
        "ands r8, r8, #24\n\t" /* 8 (G % 4): the first turn of 4 groups enters at its (4 - G % 4)th */
        "beq 2f\n\t"
        "cmp r8, #16\n\t"
        "beq 4f\n\t"
        "bhi 3f\n\t"
        "b 5f\n"
        "2:\n\t" EDGEC_PW_GROUP "3:\n\t" EDGEC_PW_GROUP "4:\n\t" EDGEC_PW_GROUP "5:\n\t" EDGEC_PW_GROUP
        "cmp r3, r1\n\t"
        "bne 2b\n\t"
        "ldm r0!, {r8-r12, lr}\n\t"
        EDGEC_DSP_OUT_ASM("r4", "r8", "r9", "r10")
        EDGEC_DSP_OUT_ASM("r5", "r11", "r12", "lr")
        "ldm r0!, {r8-r12, lr}\n\t"
        EDGEC_DSP_OUT_ASM("r6", "r8", "r9", "r10")
        EDGEC_DSP_OUT_ASM("r7", "r11", "r12", "lr")
        "cmp lr, #256\n\t"
        "bhs 1b\n\t"
        "pop {r4-r11, pc}\n\t"
        ".size edgec_pw_blocks_asm, .-edgec_pw_blocks_asm\n\t"
        ".text");
#undef EDGEC_PW_GROUP
#undef EDGEC_PW_OUT
#endif

#if !(EDGEC_HAVE_DSP && defined(__thumb2__))
/* the same steps in C (the host, and cores without the DSP extension's Thumb-2 encodings) */
static void edgec_pw_blocks_asm(const int32_t *records, const int32_t *x_end, int8_t *output) {
    for (;;) {
        int32_t a[4] = {records[0], records[1], records[2], records[3]};
        const int32_t *x = x_end - records[4] / 4;
        records += 5;
        for (; x != x_end; x += 2, records += 8)
            for (int32_t r = 0; r < 4; r++)
                a[r] = edgec_smlad(records[2 * r + 1], x[1], edgec_smlad(records[2 * r], x[0], a[r]));
        for (int32_t r = 0; r < 4; r++) *output++ = (int8_t)edgec_pw_requant(a[r], records + 3 * r);
        records += 12;
        if ((uint32_t)records[-1] < 256u) return;
    }
}
#endif

/* x[2g], x[2g + 1] = (in[4g], in[4g + 2]), (in[4g + 1], in[4g + 3]) for the `whole` groups of 4 inputs: LDR, 2
 * SXTB16 and STRD per group (2 groups a turn on the cores) */
static inline void edgec_pw_widen(const int8_t *in, int32_t *x, int32_t whole) {
#if EDGEC_HAVE_DSP && defined(__thumb2__)
    int32_t *const end = x + 2 * whole;
    int32_t t, u, a, b;
    if (whole & 1)
        __asm__("ldr %[t], [%[in]], #4\n\t"
                "sxtb16 %[a], %[t]\n\t"
                "sxtb16 %[b], %[t], ror #8\n\t"
                "strd %[a], %[b], [%[x]], #8"
                : [in] "+r"(in), [x] "+r"(x), [t] "=&r"(t), [a] "=&r"(a), [b] "=&r"(b)
                :
                : "memory");
    while (x != end)
        __asm__("ldr %[t], [%[in]], #4\n\t"
                "ldr %[u], [%[in]], #4\n\t"
                "sxtb16 %[a], %[t]\n\t"
                "sxtb16 %[b], %[t], ror #8\n\t"
                "strd %[a], %[b], [%[x]], #16\n\t"
                "sxtb16 %[a], %[u]\n\t"
                "sxtb16 %[b], %[u], ror #8\n\t"
                "strd %[a], %[b], [%[x], #-8]"
                : [in] "+r"(in), [x] "+r"(x), [t] "=&r"(t), [u] "=&r"(u), [a] "=&r"(a), [b] "=&r"(b)
                :
                : "memory");
#else
    for (int32_t g = 0; g < whole; g++) {
        const int32_t w = edgec_read_s8x4(in + 4 * g);
        x[2 * g] = edgec_sxtb16(w), x[2 * g + 1] = edgec_sxtb16_ror8(w);
    }
#endif
}

/* the out_c % 4 last channels of a pixel: records [s, G x ((w0, w2), (w1, w3)), M, round, e] each */
static void edgec_pw_tail(const int32_t *r, const int32_t *x, int32_t groups, int32_t n, int8_t *out) {
    for (int32_t o = 0; o < n; o++, r += 4 + 2 * groups) {
        int32_t acc = r[0];
        for (int32_t g = 0; g < groups; g++)
            acc = edgec_smlad(r[2 + 2 * g], x[2 * g + 1], edgec_smlad(r[1 + 2 * g], x[2 * g], acc));
        out[o] = (int8_t)edgec_pw_requant(acc, r + 1 + 2 * groups);
    }
}

/* in_c > 8: pixel by pixel, its inputs widened once, then the blocks and the out_c % 4 last channels */
static void edgec_pw_blocks(const edgec_conv2d_s8_params *p, const int32_t *records, const int8_t *input,
                            int8_t *output) {
    const int32_t in_c = p->in_c, out_c = p->out_c, pixels = p->batches * p->in_h * p->in_w;
    const int32_t groups = (in_c + 3) >> 2, blocks = out_c >> 2, whole = in_c >> 2, rest = in_c & 3;
    const int32_t *const tail = records + blocks * (5 + 8 * groups + 12);
    int32_t x[2 * EDGEC_PW_REC_MAX_GROUPS]; /* (x0, x2), (x1, x3) per group of 4 inputs */
    int32_t *const x_end = x + 2 * groups;
    /* in place: forward when out_c <= in_c, else backward */
    const int32_t forward = out_c <= in_c, in_step = forward ? in_c : -in_c, out_step = forward ? out_c : -out_c;
    const int8_t *in = forward ? input : input + (pixels - 1) * in_c;
    int8_t *out = forward ? output : output + (pixels - 1) * out_c;
    for (int32_t u = pixels; u > 0; u--, in += in_step, out += out_step) {
        edgec_pw_widen(in, x, whole);
        if (rest) { /* the last group: zeros past in_c (their weights are zero too) */
            uint32_t w = 0;
            for (int32_t j = 0; j < rest; j++) w |= (uint32_t)(uint8_t)in[4 * whole + j] << (8 * j);
            x[2 * whole] = edgec_sxtb16((int32_t)w), x[2 * whole + 1] = edgec_sxtb16_ror8((int32_t)w);
        }
        if (blocks > 0) edgec_pw_blocks_asm(records, x_end, out);
        if (4 * blocks < out_c) edgec_pw_tail(tail, x, groups, out_c - 4 * blocks, out + 4 * blocks);
    }
}

void edgec_conv2d_s8_pointwise_dsp_rec(const edgec_conv2d_s8_params *p, const int32_t *records, const int8_t *input,
                                       int8_t *output) {
    if (p->in_c <= 8) edgec_pw_rows(p, records, input, output);
    else edgec_pw_blocks(p, records, input, output);
}
