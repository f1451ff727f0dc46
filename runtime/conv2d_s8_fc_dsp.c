#include "conv2d_s8_fc_dsp.h"

#include <string.h>

#include "edgec_fixedpoint.h"

/* A 1x1 conv is a fully connected layer over its pixels; the FC records kernel (fully_connected_s8_dsp.h) spends no
 * per-pixel-pair widening, block setup or stack sums, which the 2 x 2 block kernel (conv2d_s8_dsp.c) pays per pair
 * of pixels and outweigh its multiply loop when in_c is small (30 instructions per output at in_c 8).
 * In place, pixels in chunks of at most EDGEC_PW_REC_CHUNK bytes of input, each chunk copied to the stack before
 * any of its outputs is written: out_c <= in_c, chunks ascending: the outputs of pixels [q, q + n) end at
 * (q + n) out_c <= (q + n) in_c, over the chunk's own (copied) inputs and earlier pixels (consumed); out_c > in_c,
 * chunks descending: the outputs start at q out_c >= q in_c, over the chunk's own inputs and later pixels. */

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

void edgec_conv2d_s8_pointwise_dsp_rec(const edgec_conv2d_s8_params *p, const int32_t *records,
                                       const int32_t *stage_tail, const int8_t *input, int8_t *output) {
    const int32_t in_c = p->in_c, out_c = p->out_c, pixels = p->batches * p->in_h * p->in_w;
    edgec_fully_connected_s8_params q;
    q.batches = pixels, q.depth = in_c, q.out_c = out_c;
    q.input_offset = p->input_offset, q.output_offset = p->output_offset;
    q.act_min = p->act_min, q.act_max = p->act_max, q.per_channel = 1;
    q.weights = p->weights, q.bias = p->bias, q.multiplier = p->multiplier, q.shift = p->shift;
    q.rounding = p->rounding;
    if (input != output) {
        edgec_fully_connected_s8_dsp_rec(&q, records, stage_tail, input, output);
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
        edgec_fully_connected_s8_dsp_rec(&q, records, stage_tail, copy.bytes, output + first * out_c);
    }
}

