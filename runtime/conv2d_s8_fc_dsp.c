#include "conv2d_s8_fc_dsp.h"

#include <string.h>

#include "edgec_acle.h"
#include "edgec_dsp_out.h"
#include "edgec_fixedpoint.h"

/* A 1x1 conv is a fully connected layer over its pixels. The 2 x 2 block kernel (conv2d_s8_dsp.c) pays, per pair of
 * pixels, the widening, the block setup, the sums through the stack and a requantization pass: about 20
 * instructions per output, which outweigh its multiply loop when in_c is small (30 per output at in_c 8). Here:
 *   in_c <= 8: the FC records kernel (edgec_fully_connected_s8_dsp_rec) on its own records (the pixel's 8 inputs in
 *     registers, one LDM per channel), batches = pixels; in place through a stack copy of at most
 *     EDGEC_PW_REC_CHUNK bytes, chunks in the order below.
 *   in_c > 8: per pixel, its inputs widened once into int16 pairs on the stack ((x0, x2), (x1, x3) per group of
 *     4; the records' start holds - zp * sum(w), so the inputs stay raw), then blocks of 4 channels by the
 *     assembly loop below (a group of 4 inputs x 4 channels: LDRD, 2 LDM, 8 SMLAD), the out_c % 4 last channels
 *     in C. A pixel's inputs are widened before any of its outputs is written, so in place holds pixel by pixel.
 * In place (input == output): out_c <= in_c, pixels (chunks) ascending: the outputs of pixels [q, q + n) end at
 * (q + n) out_c <= (q + n) in_c, over their own (saved) inputs and earlier pixels (consumed); out_c > in_c,
 * descending: the outputs start at q out_c >= q in_c, over their own inputs and later pixels (consumed).
 * The sums wrap modulo 2^32 like SMLAD and equal the stage's a2 = acc 2^pre (pre folded into the weights and the
 * start, fully_connected_s8_dsp.h): exact whenever the stage is, as the compiler checks. */

/* An empty asm that GCC must assume changes v: keeps the word loop below a loop (not a call of memcpy) */
#if defined(__GNUC__) && defined(__arm__)
#define EDGEC_PW_OPAQUE(v) __asm__("" : "+r"(v))
#else
#define EDGEC_PW_OPAQUE(v) ((void)0)
#endif

static void edgec_pw_copy(int8_t *dst, const int8_t *src, int32_t n) {
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        int32_t word;
        memcpy(&word, src + i, 4);
        EDGEC_PW_OPAQUE(word);
        memcpy(dst + i, &word, 4);
    }
    for (; i < n; i++) dst[i] = src[i];
}

/* in_c <= 8: the FC records kernel over the pixels */
static void edgec_pw_rows(const edgec_conv2d_s8_params *p, const int32_t *records, const int8_t *input,
                          int8_t *output) {
    const int32_t in_c = p->in_c, out_c = p->out_c, pixels = p->batches * p->in_h * p->in_w;
    edgec_fully_connected_s8_params q;
    q.batches = pixels, q.depth = in_c, q.out_c = out_c;
    q.input_offset = p->input_offset, q.output_offset = p->output_offset;
    q.act_min = p->act_min, q.act_max = p->act_max, q.per_channel = 1;
    q.weights = p->weights, q.bias = p->bias, q.multiplier = p->multiplier, q.shift = p->shift;
    q.rounding = p->rounding;
    if (input != output) {
        edgec_fully_connected_s8_dsp_rec(&q, records, NULL, input, output);
        return;
    }
    union {
        int32_t align;
        int8_t bytes[EDGEC_PW_REC_CHUNK];
    } copy;
    const int32_t chunk = EDGEC_PW_REC_CHUNK / in_c, forward = out_c <= in_c;
    for (int32_t done = 0; done < pixels; done += chunk) {
        const int32_t n = edgec_min(chunk, pixels - done), first = forward ? done : pixels - done - n;
        edgec_pw_copy(copy.bytes, input + first * in_c, n * in_c);
        q.batches = n;
        edgec_fully_connected_s8_dsp_rec(&q, records, NULL, copy.bytes, output + first * out_c);
    }
}

#if EDGEC_HAVE_DSP && defined(__thumb2__)
/* (records, widened inputs' end, output): the blocks of 4 channels of one pixel, the last block's R ending the
 * loop. Registers: r0 records, r1 inputs' end, r2 output, r3 inputs, r4..r7 the 4 sums, r8..r11 weights (then M,
 * round, R, results), r12 and lr the input pairs (then M, round, R of the odd channels). */
void edgec_pw_blocks_asm(const int32_t *records, const int32_t *x_end, int8_t *output);
/* one group of 4 inputs x 4 channels: LDRD, 2 LDM, 8 SMLAD */
#define EDGEC_PW_GROUP                                                                                  \
    "ldrd r12, lr, [r3], #8\n\t"                                                                        \
    "ldm r0!, {r8-r11}\n\t"                                                                             \
    "smlad r4, r8, r12, r4\n\t"                                                                         \
    "smlad r4, r9, lr, r4\n\t"                                                                          \
    "smlad r5, r10, r12, r5\n\t"                                                                        \
    "smlad r5, r11, lr, r5\n\t"                                                                         \
    "ldm r0!, {r8-r11}\n\t"                                                                             \
    "smlad r6, r8, r12, r6\n\t"                                                                         \
    "smlad r6, r9, lr, r6\n\t"                                                                          \
    "smlad r7, r10, r12, r7\n\t"                                                                        \
    "smlad r7, r11, lr, r7\n\t"
/* one channel's output: SMMLAR, ADD (the sign), ASR, SSAT, STRB */
#define EDGEC_PW_OUT(acc, m, rnd, e)                                                                    \
    "smmlar " m ", " acc ", " m ", " rnd "\n\t"                                                         \
    "add " m ", " m ", " acc ", asr #31\n\t"                                                            \
    "asr " m ", " m ", " e "\n\t"                                                                       \
    "ssat " m ", #8, " m "\n\t"                                                                         \
    "strb " m ", [r2], #1\n\t"
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
        "tst r8, #8\n\t" /* an odd count of groups: one before the loop of two */
        "beq 2f\n\t" EDGEC_PW_GROUP
        "cmp r3, r1\n\t"
        "beq 3f\n"
        "2:\n\t" EDGEC_PW_GROUP EDGEC_PW_GROUP
        "cmp r3, r1\n\t"
        "bne 2b\n"
        "3:\n\t"
        "ldm r0!, {r8-r12, lr}\n\t"
        EDGEC_PW_OUT("r4", "r8", "r9", "r10")
        EDGEC_PW_OUT("r5", "r11", "r12", "lr")
        "ldm r0!, {r8-r12, lr}\n\t"
        EDGEC_PW_OUT("r6", "r8", "r9", "r10")
        EDGEC_PW_OUT("r7", "r11", "r12", "lr")
        "cmp lr, #256\n\t"
        "bhs 1b\n\t"
        "pop {r4-r11, pc}\n\t"
        ".size edgec_pw_blocks_asm, .-edgec_pw_blocks_asm\n\t"
        ".text");
#undef EDGEC_PW_GROUP
#undef EDGEC_PW_OUT
#endif

/* SMMLAR, ADD (the sign), ASR by R's low byte, SSAT: edgec_dsp_out.h's stage on a2 = acc 2^pre */
static inline int32_t edgec_pw_requant(int32_t a2, const int32_t *c) { /* c: M, round, R */
    const int32_t t = (int32_t)((uint32_t)edgec_smmlar(a2, c[0], c[1]) + (uint32_t)(a2 >> 31));
    return edgec_ssat8(t >> (c[2] & 0xFF));
}

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

/* in_c > 8: pixel by pixel, its inputs widened once, then the blocks and the out_c % 4 last channels */
static void edgec_pw_blocks(const edgec_conv2d_s8_params *p, const int32_t *records, const int8_t *input,
                            int8_t *output) {
    const int32_t in_c = p->in_c, out_c = p->out_c, pixels = p->batches * p->in_h * p->in_w;
    const int32_t groups = (in_c + 3) >> 2, blocks = out_c >> 2, whole = in_c >> 2, rest = in_c & 3;
    const int32_t forward = out_c <= in_c;
    /* the tail channels' records follow the blocks': [start, 4 groups... as (w02, w13), M, round, R] */
    const int32_t *const tail = records + blocks * (5 + 8 * groups + 12);
    int32_t x[2 * EDGEC_PW_REC_MAX_GROUPS]; /* (x0, x2), (x1, x3) per group of 4 inputs */
    for (int32_t u = 0; u < pixels; u++) {
        const int32_t q = forward ? u : pixels - 1 - u;
        const int8_t *in = input + q * in_c;
        int8_t *out = output + q * out_c;
        for (int32_t g = 0; g < whole; g++) {
            const int32_t w = edgec_read_s8x4(in + 4 * g);
            x[2 * g] = edgec_sxtb16(w), x[2 * g + 1] = edgec_sxtb16_ror8(w);
        }
        if (rest) { /* the last group: zeros past in_c (their weights are zero too) */
            uint32_t w = 0;
            for (int32_t j = 0; j < rest; j++) w |= (uint32_t)(uint8_t)in[4 * whole + j] << (8 * j);
            x[2 * whole] = edgec_sxtb16((int32_t)w), x[2 * whole + 1] = edgec_sxtb16_ror8((int32_t)w);
        }
        if (blocks > 0) edgec_pw_blocks_asm(records, x + 2 * groups, out);
        const int32_t *r = tail;
        for (int32_t o = 4 * blocks; o < out_c; o++, r += 4 + 2 * groups) {
            int32_t acc = r[0];
            for (int32_t g = 0; g < groups; g++)
                acc = edgec_smlad(r[2 + 2 * g], x[2 * g + 1], edgec_smlad(r[1 + 2 * g], x[2 * g], acc));
            out[o] = (int8_t)edgec_pw_requant(acc, r + 1 + 2 * groups);
        }
    }
}

void edgec_conv2d_s8_pointwise_dsp_rec(const edgec_conv2d_s8_params *p, const int32_t *records, const int8_t *input,
                                       int8_t *output) {
    if (p->in_c <= 8) edgec_pw_rows(p, records, input, output);
    else edgec_pw_blocks(p, records, input, output);
}
