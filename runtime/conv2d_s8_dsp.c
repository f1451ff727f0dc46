#include <string.h>

#include "conv2d_s8_dsp.h"
#include "edgec_acle.h"
#include "edgec_fixedpoint.h"

/* Scratch layout. K inputs of a pixel, as int16 (x - zp), go in groups of 4, k = 4g + (0, 1, 2, 3); group g of
 * both pixels fills 8 int16 at 8g: pixel 0's (x0, x2), (x1, x3), then pixel 1's. The weights stay int8 OHWI in
 * flash: 4 weights (w0, w1, w2, w3) are one word; SXTB16 gives (w0, w2), SXTB16 ROR 8 gives (w1, w3), and
 *   SMLAD((w0, w2), (x0, x2)) + SMLAD((w1, w3), (x1, x3)) = w0 x0 + w1 x1 + w2 x2 + w3 x3.
 * The last group of a K that is not a multiple of 4 holds zero inputs past K (and its weight word zero bytes), so
 * it adds nothing. x - zp lies in [-255, 255]: int16 holds it, and every product fits the SMLAD halves exactly.
 * The accumulators start at the bias and wrap modulo 2^32 like SMLAD; the portable kernel's sum (bias added
 * last) is the same int32 whenever it does not overflow, i.e. always for a valid model. */

#define EDGEC_PW_GROUP 8 /* int16 per group of 4 k: 2 pixels x 4 */

static inline void edgec_write_s16x2(int16_t *dst, int32_t v) { memcpy(dst, &v, 4); }

/* the input offset (-zp) in both 16-bit halves */
static inline int32_t edgec_offset_pair(int32_t input_offset) {
    return (int32_t)(((uint32_t)input_offset & 0xFFFFu) | ((uint32_t)input_offset << 16));
}

/* int16 slot of linear input k of pixel `px` in the scratch layout */
static inline int32_t edgec_slot(int32_t k, int32_t px) {
    static const int8_t lane[4] = {0, 2, 1, 3};
    return (k >> 2) * EDGEC_PW_GROUP + px * 4 + lane[k & 3];
}

/* Widens n contiguous int8 inputs (minus zp) into pixel px's slots from linear k0 on (k0 a multiple of 4), the
 * last group padded with zeros. Four inputs per word: one LDR, two SXTAB16, two STR. */
static void edgec_widen_run(const int8_t *in, int32_t n, int32_t k0, int32_t px, int32_t offset2, int32_t offset,
                            int16_t *scratch) {
    int16_t *dst = scratch + (k0 >> 2) * EDGEC_PW_GROUP + px * 4;
    int32_t i = 0;
    for (; i + 4 <= n; i += 4, dst += EDGEC_PW_GROUP) {
        const int32_t x = edgec_read_s8x4(in + i);
        edgec_write_s16x2(dst, edgec_sxtab16(offset2, x));
        edgec_write_s16x2(dst + 2, edgec_sxtab16_ror8(offset2, x));
    }
    if (i < n) {
        int16_t last[4] = {0, 0, 0, 0};
        for (int32_t j = 0; i + j < n; j++) last[j] = (int16_t)(in[i + j] + offset);
        dst[0] = last[0], dst[1] = last[2], dst[2] = last[1], dst[3] = last[3];
    }
}

/* The n < 4 weights at w (the last of a channel) as a word, bytes past n zero. One masked LDR when 4 bytes from w
 * are still inside the weights (they end at w_end), else byte by byte (the last channel: never read past it). */
static inline int32_t edgec_weight_tail(const int8_t *w, int32_t n, const int8_t *w_end) {
    if (w_end - w >= 4) return (int32_t)((uint32_t)edgec_read_s8x4(w) & (0xFFFFFFFFu >> (32 - 8 * n)));
    uint32_t v = 0;
    for (int32_t j = 0; j < n; j++) v |= (uint32_t)(uint8_t)w[j] << (8 * j);
    return (int32_t)v;
}

/* The scratch is read as int32 words (two int16 each); it is 4-byte aligned (the arena places every buffer at a
 * multiple of 8), and may_alias keeps the int16 writes of the fill and these reads ordered. */
#if defined(__GNUC__)
typedef int32_t edgec_s16x2_word __attribute__((may_alias));
#define EDGEC_S16X2(ptr, i) (((const edgec_s16x2_word *)(const void *)(ptr))[i])
#else
#define EDGEC_S16X2(ptr, i) edgec_read_s16x2((ptr) + 2 * (i))
#endif

/* One group of 4 k: channel a's weight word against pixel 0's (and pixel 1's) two input pairs, then channel b's */
#define EDGEC_CONV_GROUP(word_a, word_b, s)                                                     \
    do {                                                                                        \
        const int32_t xa02 = EDGEC_S16X2(s, 0), xa13 = EDGEC_S16X2(s, 1);                       \
        int32_t t = edgec_sxtb16(word_a);                                                       \
        a0 = edgec_smlad(t, xa02, a0);                                                          \
        if (two_px) a1 = edgec_smlad(t, EDGEC_S16X2(s, 2), a1);                                 \
        t = edgec_sxtb16_ror8(word_a);                                                          \
        a0 = edgec_smlad(t, xa13, a0);                                                          \
        if (two_px) a1 = edgec_smlad(t, EDGEC_S16X2(s, 3), a1);                                 \
        if (two_ch) {                                                                           \
            t = edgec_sxtb16(word_b);                                                           \
            b0 = edgec_smlad(t, xa02, b0);                                                      \
            if (two_px) b1 = edgec_smlad(t, EDGEC_S16X2(s, 2), b1);                             \
            t = edgec_sxtb16_ror8(word_b);                                                      \
            b0 = edgec_smlad(t, xa13, b0);                                                      \
            if (two_px) b1 = edgec_smlad(t, EDGEC_S16X2(s, 3), b1);                             \
        }                                                                                       \
    } while (0)

/* acc[c][px] += the dot products of channel c's K weights (channels wa, wb = wa + k) with pixel px's widened
 * inputs. two_ch / two_px are constants at each call, so each call site compiles to its own loop. */
static inline __attribute__((always_inline)) void edgec_block(const int8_t *wa, const int16_t *s, int32_t k,
                                                              const int8_t *w_end, int two_ch, int two_px,
                                                              int32_t acc[2][2]) {
    int32_t a0 = acc[0][0], a1 = acc[0][1], b0 = acc[1][0], b1 = acc[1][1];
    const int8_t *wb = wa + k;
    const int16_t *s_end = s + (k >> 2) * EDGEC_PW_GROUP;
#if EDGEC_HAVE_DSP
    if (two_ch && two_px) {
        /* One asm block per group: GCC's own allocation of the same 16 instructions spills the loop bound and
         * splits the loads (22 per group); here 13 registers hold everything. The weight word is widened in
         * place (t = its bytes 0 and 2, then w = its bytes 1 and 3). LDRD needs the scratch word-aligned. */
        for (; s < s_end;) {
            int32_t x0, x1, x2, x3, w, t;
            __asm__("ldrd %[x0], %[x1], [%[s]], #16\n\t"
                    "ldrd %[x2], %[x3], [%[s], #-8]\n\t"
                    "ldr %[w], [%[wa]], #4\n\t"
                    "sxtb16 %[t], %[w]\n\t"
                    "sxtb16 %[w], %[w], ror #8\n\t"
                    "smlad %[a0], %[t], %[x0], %[a0]\n\t"
                    "smlad %[a1], %[t], %[x2], %[a1]\n\t"
                    "smlad %[a0], %[w], %[x1], %[a0]\n\t"
                    "smlad %[a1], %[w], %[x3], %[a1]\n\t"
                    "ldr %[w], [%[wb]], #4\n\t"
                    "sxtb16 %[t], %[w]\n\t"
                    "sxtb16 %[w], %[w], ror #8\n\t"
                    "smlad %[b0], %[t], %[x0], %[b0]\n\t"
                    "smlad %[b1], %[t], %[x2], %[b1]\n\t"
                    "smlad %[b0], %[w], %[x1], %[b0]\n\t"
                    "smlad %[b1], %[w], %[x3], %[b1]"
                    : [a0] "+r"(a0), [a1] "+r"(a1), [b0] "+r"(b0), [b1] "+r"(b1), [s] "+r"(s), [wa] "+r"(wa),
                      [wb] "+r"(wb), [x0] "=&r"(x0), [x1] "=&r"(x1), [x2] "=&r"(x2), [x3] "=&r"(x3), [w] "=&r"(w),
                      [t] "=&r"(t)
                    :
                    : "memory");
        }
    }
#endif
    for (; s < s_end; s += EDGEC_PW_GROUP, wa += 4, wb += 4) {
        const int32_t word_a = edgec_read_s8x4(wa), word_b = two_ch ? edgec_read_s8x4(wb) : 0;
        EDGEC_CONV_GROUP(word_a, word_b, s);
    }
    if (k & 3) { /* the last k % 4 weights; the inputs past K are zeros, or anything times these zero weights */
        const int32_t word_a = edgec_weight_tail(wa, k & 3, w_end);
        const int32_t word_b = two_ch ? edgec_weight_tail(wb, k & 3, w_end) : 0;
        EDGEC_CONV_GROUP(word_a, word_b, s);
    }
    acc[0][0] = a0, acc[0][1] = a1, acc[1][0] = b0, acc[1][1] = b1;
}

/* The output stage's parameters as locals: the int8 stores of the outputs may alias anything, so values read
 * through p would be read again after every store. */
typedef struct {
    const int32_t *multiplier, *shift;
    int32_t rounding, output_offset, act_min, act_max;
} edgec_conv_output_stage;

/* the portable kernel's output stage, exactly */
static inline int8_t edgec_conv_out(edgec_conv_output_stage st, int32_t acc, int32_t o) {
    const int32_t y = edgec_requantize(acc, st.multiplier[o], st.shift[o], st.rounding) + st.output_offset;
    return (int8_t)edgec_clamp(y, st.act_min, st.act_max);
}

/* All out_c outputs of n (1 or 2) pixels whose widened inputs are in scratch; pixel 0's output at out, pixel 1's
 * at out + out_c. */
static void edgec_conv_pixels(const edgec_conv2d_s8_params *p, int32_t k, const int16_t *scratch, int32_t n,
                              int8_t *out) {
    const edgec_conv_output_stage st = {p->multiplier, p->shift, p->rounding, p->output_offset, p->act_min,
                                        p->act_max};
    const int32_t out_c = p->out_c, *const bias = p->bias;
    const int8_t *const weights = p->weights, *const w_end = weights + out_c * k;
    int32_t o = 0;
    for (; o + 2 <= out_c; o += 2) {
        const int8_t *wa = weights + o * k;
        const int32_t bias_a = bias ? bias[o] : 0, bias_b = bias ? bias[o + 1] : 0;
        int32_t acc[2][2] = {{bias_a, bias_a}, {bias_b, bias_b}};
        if (n == 2) {
            edgec_block(wa, scratch, k, w_end, 1, 1, acc);
            out[out_c + o] = edgec_conv_out(st, acc[0][1], o);
            out[out_c + o + 1] = edgec_conv_out(st, acc[1][1], o + 1);
        } else {
            edgec_block(wa, scratch, k, w_end, 1, 0, acc);
        }
        out[o] = edgec_conv_out(st, acc[0][0], o);
        out[o + 1] = edgec_conv_out(st, acc[1][0], o + 1);
    }
    if (o < out_c) { /* odd out_c: the last channel alone */
        const int8_t *wa = weights + o * k;
        const int32_t bias_a = bias ? bias[o] : 0;
        int32_t acc[2][2] = {{bias_a, bias_a}, {0, 0}};
        if (n == 2) {
            edgec_block(wa, scratch, k, w_end, 0, 1, acc);
            out[out_c + o] = edgec_conv_out(st, acc[0][1], o);
        } else {
            edgec_block(wa, scratch, k, w_end, 0, 0, acc);
        }
        out[o] = edgec_conv_out(st, acc[0][0], o);
    }
}

/* An empty asm that GCC must assume changes v: it keeps the copy loop below a loop, which GCC would otherwise
 * turn into a call of memcpy (slower for the few bytes of an im2col row). */
#if EDGEC_HAVE_DSP
#define EDGEC_OPAQUE(v) __asm__("" : "+r"(v))
#else
#define EDGEC_OPAQUE(v) ((void)0)
#endif

/* n bytes from src to dst, a word at a time (unaligned LDR/STR), for the few bytes of an im2col row */
static inline void edgec_copy_s8(int8_t *dst, const int8_t *src, int32_t n) {
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        int32_t word = edgec_read_s8x4(src + i);
        EDGEC_OPAQUE(word);
        memcpy(dst + i, &word, 4);
    }
    for (; i < n; i++) {
        int32_t byte = src[i];
        EDGEC_OPAQUE(byte);
        dst[i] = (int8_t)byte;
    }
}

/* The layer's output stage computed at compile time (edgec_dsp_out.h), narrow: the activation clamps inside
 * [-128, 127] (a literal at each call) */
static inline __attribute__((always_inline)) int8_t edgec_conv_staged_out(const int32_t *c, int32_t acc, int32_t lo,
                                                                          int32_t hi, int narrow) {
    const int32_t y = edgec_dsp_requant(acc, c);
    return (int8_t)(narrow ? edgec_clamp(y, lo, hi) : y);
}

#if defined(__GNUC__)
#define EDGEC_NOINLINE __attribute__((noinline))
#else
#define EDGEC_NOINLINE
#endif

/* acc[px][c] += the dot products of a pair of channels' int16 weights (interleaved, stage.weights16) with both
 * pixels' widened inputs, `groups` groups of 4 k from s and w. Per group: 4 LDRD (the two pixels' pairs, each
 * channel's two weight pairs), 8 SMLAD; four groups per loop iteration: 50 instructions per 64 MACs. Advances w. */
static inline __attribute__((always_inline)) const int16_t *edgec_block16(const int16_t *w, const int16_t *s,
                                                                         int32_t groups, int32_t acc[4]) {
    int32_t a0 = acc[0], a1 = acc[1], b0 = acc[2], b1 = acc[3];
#if EDGEC_HAVE_DSP
    int32_t x0, x1, x2, x3, u, v;
    /* one group of 4 k: 4 LDRD, 8 SMLAD */
#define EDGEC_GROUP16 "ldrd %[x0], %[x1], [%[s]], #16\n\t"                                                      \
    "ldrd %[x2], %[x3], [%[s], #-8]\n\t"                                                      \
    "ldrd %[u], %[v], [%[w]], #16\n\t"                                                       \
    "smlad %[a0], %[u], %[x0], %[a0]\n\t"                                                    \
    "smlad %[a1], %[u], %[x2], %[a1]\n\t"                                                    \
    "smlad %[a0], %[v], %[x1], %[a0]\n\t"                                                    \
    "smlad %[a1], %[v], %[x3], %[a1]\n\t"                                                    \
    "ldrd %[u], %[v], [%[w], #-8]\n\t"                                                       \
    "smlad %[b0], %[u], %[x0], %[b0]\n\t"                                                    \
    "smlad %[b1], %[u], %[x2], %[b1]\n\t"                                                    \
    "smlad %[b0], %[v], %[x1], %[b0]\n\t"                                                    \
    "smlad %[b1], %[v], %[x3], %[b1]\n\t"
#define EDGEC_BLOCK16_OPERANDS                                                                             \
    [a0] "+r"(a0), [a1] "+r"(a1), [b0] "+r"(b0), [b1] "+r"(b1), [s] "+r"(s), [w] "+r"(w), [x0] "=&r"(x0),  \
        [x1] "=&r"(x1), [x2] "=&r"(x2), [x3] "=&r"(x3), [u] "=&r"(u), [v] "=&r"(v)
    if (groups & 1) __asm__(EDGEC_GROUP16 : EDGEC_BLOCK16_OPERANDS : : "memory");
    if (groups & 2) __asm__(EDGEC_GROUP16 EDGEC_GROUP16 : EDGEC_BLOCK16_OPERANDS : : "memory");
    if (groups >= 4) { /* 4 groups per iteration: 50 instructions per 64 MACs */
        const int16_t *const end = s + (groups & ~3) * EDGEC_PW_GROUP;
        __asm__("1:\n\t" EDGEC_GROUP16 EDGEC_GROUP16 EDGEC_GROUP16 EDGEC_GROUP16 "cmp %[s], %[end]\n\t"
                "bne 1b"
                : EDGEC_BLOCK16_OPERANDS
                : [end] "r"(end)
                : "cc", "memory");
    }
#undef EDGEC_GROUP16
#undef EDGEC_BLOCK16_OPERANDS
#else
    for (int32_t g = 0; g < groups; g++, s += EDGEC_PW_GROUP, w += 8) {
        const int32_t x0 = EDGEC_S16X2(s, 0), x1 = EDGEC_S16X2(s, 1), x2 = EDGEC_S16X2(s, 2), x3 = EDGEC_S16X2(s, 3);
        const int32_t wa02 = edgec_read_s16x2(w), wa13 = edgec_read_s16x2(w + 2);
        const int32_t wb02 = edgec_read_s16x2(w + 4), wb13 = edgec_read_s16x2(w + 6);
        a0 = edgec_smlad(wa13, x1, edgec_smlad(wa02, x0, a0));
        a1 = edgec_smlad(wa13, x3, edgec_smlad(wa02, x2, a1));
        b0 = edgec_smlad(wb13, x1, edgec_smlad(wb02, x0, b0));
        b1 = edgec_smlad(wb13, x3, edgec_smlad(wb02, x2, b1));
    }
#endif
    acc[0] = a0, acc[1] = a1, acc[2] = b0, acc[3] = b1;
    return w;
}

/* pairs of channels per chunk of edgec_conv_pairs16: its sums wait on the stack (16 bytes per pair) */
#define EDGEC_PAIRS_CHUNK 16

/* The requantization pass of edgec_conv_pairs16: `count` channels with the stage words from c, both pixels' sums
 * (a[0], a[1] per channel), written at out[o] and out[o + out_c], o = channel[i] (or i: out is then the first
 * channel's byte). With the stage words in 4 registers: LDRD of the sums, 2 x (LSL, SMMLAR, ADD, ASR, SSAT), 2 STRB
 * and the loop: about 17 instructions per channel. */
static inline __attribute__((always_inline)) void edgec_requant_pairs_body(
    const int32_t *c, const int32_t *a, int32_t count, const int16_t *channel, int8_t *out, int32_t out_c, int32_t lo,
    int32_t hi, int narrow, int indexed) {
    for (int32_t i = 0; i < count; i++, c += EDGEC_DSP_OUT_WORDS, a += 2) {
        int8_t *const o = indexed ? out + channel[i] : out + i;
        const int8_t y0 = edgec_conv_staged_out(c, a[0], lo, hi, narrow);
        const int8_t y1 = edgec_conv_staged_out(c, a[1], lo, hi, narrow);
        o[0] = y0, o[out_c] = y1;
    }
}

static EDGEC_NOINLINE void edgec_conv_requant_pairs(const int32_t *c, const int32_t *a, int32_t count,
                                                    const int16_t *channel, int8_t *out, int32_t out_c, int32_t lo,
                                                    int32_t hi, int narrow) {
#if EDGEC_HAVE_DSP
    if (!narrow && !channel) {
        /* the common case (every channel live, activation [-128, 127]) in assembly: one LDM of the channel's 5
         * stage words into r8-r12, one LDRD of its two sums, 2 x (LSL, SMMLAR, ADD, ASR, SSAT), 2 STRB, CMP, BNE:
         * 16 instructions per channel */
        register int32_t start __asm__("r8"), m __asm__("r9"), round __asm__("r10"), pre __asm__("r11"),
            right __asm__("r12");
        const int32_t *const end = a + 2 * count;
        int8_t *o2 = out + out_c;
        int32_t x0, x1, t0, t1;
        __asm__ volatile("1:\n\t"
                         "ldm %[c]!, {r8, r9, r10, r11, r12}\n\t"
                         "ldrd %[x0], %[x1], [%[a]], #8\n\t"
                         "lsl %[t0], %[x0], %[pre]\n\t"
                         "lsl %[t1], %[x1], %[pre]\n\t"
                         "smmlar %[t0], %[t0], %[m], %[round]\n\t"
                         "smmlar %[t1], %[t1], %[m], %[round]\n\t"
                         "add %[t0], %[t0], %[x0], asr #31\n\t"
                         "add %[t1], %[t1], %[x1], asr #31\n\t"
                         "asr %[t0], %[t0], %[right]\n\t"
                         "asr %[t1], %[t1], %[right]\n\t"
                         "ssat %[t0], #8, %[t0]\n\t"
                         "ssat %[t1], #8, %[t1]\n\t"
                         "strb %[t0], [%[out]], #1\n\t"
                         "strb %[t1], [%[o2]], #1\n\t"
                         "cmp %[a], %[end]\n\t"
                         "bne 1b"
                         : [c] "+r"(c), [a] "+r"(a), [out] "+r"(out), [o2] "+r"(o2), [x0] "=&r"(x0), [x1] "=&r"(x1),
                           [t0] "=&r"(t0), [t1] "=&r"(t1), "=&r"(start), [m] "=&r"(m), [round] "=&r"(round),
                           [pre] "=&r"(pre), [right] "=&r"(right) /* early clobber: `end` must not share r8-r12 */
                         : [end] "r"(end)
                         : "cc", "memory");
        return;
    }
#endif
    if (narrow && channel) edgec_requant_pairs_body(c, a, count, channel, out, out_c, lo, hi, 1, 1);
    else if (narrow) edgec_requant_pairs_body(c, a, count, channel, out, out_c, lo, hi, 1, 0);
    else if (channel) edgec_requant_pairs_body(c, a, count, channel, out, out_c, -128, 127, 0, 1);
    else edgec_requant_pairs_body(c, a, count, channel, out, out_c, -128, 127, 0, 0);
}

/* Two pixels (both in the scratch), every pair of live channels with the int16 weights, in chunks of
 * EDGEC_PAIRS_CHUNK pairs and two passes: the multiply pass leaves each block's 4 sums on the stack (no output
 * stage in registers beside the loop's 13), then the requantization pass walks the chunk's channels with their
 * stage words (about 17 instructions per channel, both pixels). `narrow` as edgec_conv_staged_out. A function of
 * its own so that its loops start with every register free. */
static inline __attribute__((always_inline)) void edgec_conv_pairs16_body(
    const edgec_conv2d_s8_dsp_stage *st, int32_t groups, const int16_t *scratch, int32_t out_c, int8_t *out,
    int32_t lo, int32_t hi, int narrow) {
    int32_t acc[4 * EDGEC_PAIRS_CHUNK];
    const int16_t *w = st->weights16, *const channel = st->channel;
    const int32_t pairs = st->live >> 1;
    for (int32_t j0 = 0; j0 < pairs; j0 += EDGEC_PAIRS_CHUNK) {
        const int32_t n = edgec_min(EDGEC_PAIRS_CHUNK, pairs - j0);
        const int32_t *const c0 = st->out + 2 * j0 * EDGEC_DSP_OUT_WORDS;
        const int32_t *c = c0;
        for (int32_t j = 0; j < n; j++, c += 2 * EDGEC_DSP_OUT_WORDS) {
            int32_t *const a = acc + 4 * j;
            a[0] = a[1] = c[EDGEC_DSP_OUT_START];
            a[2] = a[3] = c[EDGEC_DSP_OUT_WORDS + EDGEC_DSP_OUT_START];
            w = edgec_block16(w, scratch, groups, a);
        }
        if (channel) edgec_conv_requant_pairs(c0, acc, 2 * n, channel + 2 * j0, out, out_c, lo, hi, narrow);
        else edgec_conv_requant_pairs(c0, acc, 2 * n, NULL, out + 2 * j0, out_c, lo, hi, narrow);
    }
}

static EDGEC_NOINLINE void edgec_conv_pairs16(const edgec_conv2d_s8_dsp_stage *st, int32_t groups,
                                              const int16_t *scratch, int32_t out_c, int8_t *out, int32_t lo,
                                              int32_t hi, int narrow) {
    if (narrow) edgec_conv_pairs16_body(st, groups, scratch, out_c, out, lo, hi, 1);
    else edgec_conv_pairs16_body(st, groups, scratch, out_c, out, -128, 127, 0);
}

/* edgec_conv_pixels with the compile-time stage: the dead channels' outputs copied from the stage's row, then the
 * live channels in pairs (2 x 2 blocks), each output by the 5-instruction requantization */
static inline __attribute__((always_inline)) void edgec_conv_pixels_staged_body(
    const edgec_conv2d_s8_params *p, const edgec_conv2d_s8_dsp_stage *st, int32_t k, const int16_t *scratch,
    int32_t n, int8_t *out, int narrow) {
    const int32_t out_c = p->out_c, live = st->live, lo = p->act_min, hi = p->act_max;
    const int8_t *const weights = st->weights, *const w_end = weights + live * k;
    const int16_t *const channel = st->channel;
    const int32_t *c = st->out;
    if (st->row) {
        edgec_copy_s8(out, st->row, out_c);
        if (n == 2) edgec_copy_s8(out + out_c, st->row, out_c);
    }
    int32_t j = 0;
    if (n == 2 && st->weights16 && live >= 2) { /* the pairs from the int16 weights, then an odd last channel */
        edgec_conv_pairs16(st, (k + 3) >> 2, scratch, out_c, out, lo, hi, narrow);
        j = live & ~1;
        c += j * EDGEC_DSP_OUT_WORDS;
    }
    for (; j + 2 <= live; j += 2, c += 2 * EDGEC_DSP_OUT_WORDS) {
        const int8_t *wa = weights + j * k;
        const int32_t *cb = c + EDGEC_DSP_OUT_WORDS;
        const int32_t oa = channel ? channel[j] : j, ob = channel ? channel[j + 1] : j + 1;
        int32_t acc[2][2] = {{c[EDGEC_DSP_OUT_START], c[EDGEC_DSP_OUT_START]},
                             {cb[EDGEC_DSP_OUT_START], cb[EDGEC_DSP_OUT_START]}};
        if (n == 2) {
            edgec_block(wa, scratch, k, w_end, 1, 1, acc);
            out[out_c + oa] = edgec_conv_staged_out(c, acc[0][1], lo, hi, narrow);
            out[out_c + ob] = edgec_conv_staged_out(cb, acc[1][1], lo, hi, narrow);
        } else {
            edgec_block(wa, scratch, k, w_end, 1, 0, acc);
        }
        out[oa] = edgec_conv_staged_out(c, acc[0][0], lo, hi, narrow);
        out[ob] = edgec_conv_staged_out(cb, acc[1][0], lo, hi, narrow);
    }
    if (j < live) { /* an odd number of live channels: the last alone */
        const int32_t oa = channel ? channel[j] : j;
        int32_t acc[2][2] = {{c[EDGEC_DSP_OUT_START], c[EDGEC_DSP_OUT_START]}, {0, 0}};
        if (n == 2) {
            edgec_block(weights + j * k, scratch, k, w_end, 0, 1, acc);
            out[out_c + oa] = edgec_conv_staged_out(c, acc[0][1], lo, hi, narrow);
        } else {
            edgec_block(weights + j * k, scratch, k, w_end, 0, 0, acc);
        }
        out[oa] = edgec_conv_staged_out(c, acc[0][0], lo, hi, narrow);
    }
}

static void edgec_conv_pixels_staged_full(const edgec_conv2d_s8_params *p, const edgec_conv2d_s8_dsp_stage *st,
                                          int32_t k, const int16_t *scratch, int32_t n, int8_t *out) {
    edgec_conv_pixels_staged_body(p, st, k, scratch, n, out, 0);
}

static void edgec_conv_pixels_staged_narrow(const edgec_conv2d_s8_params *p, const edgec_conv2d_s8_dsp_stage *st,
                                            int32_t k, const int16_t *scratch, int32_t n, int8_t *out) {
    edgec_conv_pixels_staged_body(p, st, k, scratch, n, out, 1);
}

/* All out_c outputs of n pixels: with the layer's compile-time stage when it has one, else as the portable kernel */
static void edgec_conv_outputs(const edgec_conv2d_s8_params *p, const edgec_conv2d_s8_dsp_stage *st, int32_t k,
                               const int16_t *scratch, int32_t n, int8_t *out) {
    if (st == NULL) edgec_conv_pixels(p, k, scratch, n, out);
    else if (p->act_min == -128 && p->act_max == 127) edgec_conv_pixels_staged_full(p, st, k, scratch, n, out);
    else edgec_conv_pixels_staged_narrow(p, st, k, scratch, n, out);
}

/* Pixels in units of 2 (the last unit 1 pixel when the count is odd). Each unit's inputs are widened into scratch
 * before any of its outputs is written, so the unit reads nothing from the buffer after that. In place:
 * out_c <= in_c, units ascending: the outputs of pixels [q, q + n) end at (q + n) * out_c <= (q + n) * in_c, so
 * they overwrite only the unit's own inputs (saved) and earlier pixels (consumed), never an unread one.
 * out_c > in_c, units descending: the outputs start at q * out_c >= q * in_c, over the unit's own inputs and
 * later pixels (consumed). The order changes nothing when input and output are apart. */
void edgec_conv2d_s8_pointwise_dsp(const edgec_conv2d_s8_params *p, const edgec_conv2d_s8_dsp_stage *stage,
                                   const int8_t *input, int8_t *output, int16_t *scratch) {
    const int32_t in_c = p->in_c, pixels = p->batches * p->in_h * p->in_w;
    const int32_t offset2 = edgec_offset_pair(p->input_offset);
    const int32_t units = (pixels + 1) / 2;
    const int32_t forward = p->out_c <= in_c;
    for (int32_t u = 0; u < units; u++) {
        const int32_t q = 2 * (forward ? u : units - 1 - u); /* first pixel of the unit */
        const int32_t n = q + 2 <= pixels ? 2 : 1;
        for (int32_t px = 0; px < n; px++)
            edgec_widen_run(input + (q + px) * in_c, in_c, 0, px, offset2, p->input_offset, scratch);
        edgec_conv_outputs(p, stage, in_c, scratch, n, output + q * p->out_c);
    }
}

/* im2col rows of at most this many int8 inputs are gathered on the stack first when in_c is not a multiple of 4
 * (the stems: 3 channels, 27 taps), then widened 4 at a time */
#define EDGEC_IM2COL_STAGE 128

/* The im2col of output pixel (b, y, x) into pixel px's slots: linear k = (ky * k_w + kx) * in_c + i, the OHWI
 * order of the weights. Taps outside the input are 0 after the zero-point subtraction, so they add nothing:
 * TFLite Micro skips them. */
static void edgec_im2col(const edgec_conv2d_s8_params *p, const int8_t *input, int32_t b, int32_t y, int32_t x,
                         int32_t px, int32_t offset2, int16_t *scratch) {
    /* p's fields as locals: the int8 stores below may alias them */
    const int32_t in_c = p->in_c, in_h = p->in_h, in_w = p->in_w, k_h = p->k_h, k_w = p->k_w, k = k_h * k_w * in_c;
    const int32_t y0 = y * p->stride_h - p->pad_top, x0 = x * p->stride_w - p->pad_left;
    const int32_t dilation_h = p->dilation_h, dilation_w = p->dilation_w, input_offset = p->input_offset;
    const int8_t *in_b = input + b * in_h * in_w * in_c;
    if ((in_c & 3) != 0 && k <= EDGEC_IM2COL_STAGE) {
        /* staged: a padded tap is the input zero point (an int8), which widens to 0 like the skipped tap */
        int8_t staged[EDGEC_IM2COL_STAGE];
        const int8_t zero_point = (int8_t)-input_offset;
        int8_t *dst = staged;
        const int32_t row_bytes = k_w * in_c;
        const int whole_rows = dilation_w == 1 && x0 >= 0 && x0 + k_w <= in_w; /* no tap of a row is padding */
        for (int32_t ky = 0; ky < k_h; ky++) {
            const int32_t iy = y0 + ky * dilation_h;
            if (whole_rows && iy >= 0 && iy < in_h) { /* one contiguous run of k_w * in_c bytes */
                edgec_copy_s8(dst, in_b + (iy * in_w + x0) * in_c, row_bytes);
                dst += row_bytes;
                continue;
            }
            for (int32_t kx = 0; kx < k_w; kx++, dst += in_c) {
                const int32_t ix = x0 + kx * dilation_w;
                const int inside = iy >= 0 && iy < in_h && ix >= 0 && ix < in_w;
                const int8_t *src = inside ? in_b + (iy * in_w + ix) * in_c : in_b;
                /* one loop for both cases: a few bytes, where a memcpy/memset call would cost more */
                for (int32_t i = 0; i < in_c; i++) dst[i] = inside ? src[i] : zero_point;
            }
        }
        edgec_widen_run(staged, k, 0, px, offset2, input_offset, scratch);
        return;
    }
    int32_t kk = 0;
    for (int32_t ky = 0; ky < k_h; ky++) {
        const int32_t iy = y0 + ky * dilation_h;
        for (int32_t kx = 0; kx < k_w; kx++, kk += in_c) {
            const int32_t ix = x0 + kx * dilation_w;
            const int inside = iy >= 0 && iy < in_h && ix >= 0 && ix < in_w;
            const int8_t *src = inside ? in_b + (iy * in_w + ix) * in_c : in_b;
            if (inside && (in_c & 3) == 0) {
                edgec_widen_run(src, in_c, kk, px, offset2, input_offset, scratch);
            } else if (inside) {
                for (int32_t i = 0; i < in_c; i++)
                    scratch[edgec_slot(kk + i, px)] = (int16_t)(src[i] + input_offset);
            } else {
                for (int32_t i = 0; i < in_c; i++) scratch[edgec_slot(kk + i, px)] = 0;
            }
        }
    }
    for (; kk < ((k + 3) & ~3); kk++) scratch[edgec_slot(kk, px)] = 0; /* K padded to a multiple of 4 */
}

void edgec_conv2d_s8_im2col_dsp(const edgec_conv2d_s8_params *p, const edgec_conv2d_s8_dsp_stage *stage,
                                const int8_t *input, int8_t *output, int16_t *scratch) {
    const int32_t k = p->k_h * p->k_w * p->in_c, per_batch = p->out_h * p->out_w;
    const int32_t pixels = p->batches * per_batch;
    const int32_t offset2 = edgec_offset_pair(p->input_offset);
    for (int32_t q = 0; q < pixels; q += 2) {
        const int32_t n = q + 2 <= pixels ? 2 : 1;
        for (int32_t px = 0; px < n; px++) {
            const int32_t b = (q + px) / per_batch, yx = (q + px) % per_batch;
            edgec_im2col(p, input, b, yx / p->out_w, yx % p->out_w, px, offset2, scratch);
        }
        edgec_conv_outputs(p, stage, k, scratch, n, output + q * p->out_c);
    }
}
