#include "depthwise_conv2d_s8_dsp.h"

#include "edgec_acle.h"
#include "edgec_dsp_out.h"
#include "edgec_fixedpoint.h"

/* Channel planes (one input channel at a time, padded with the input zero point), SMLAD along x.
 *
 * Zero point. The portable kernel computes acc = bias + sum_{taps inside} w * (x - zp), skipping padded taps.
 * Here the padded taps read zp from the plane's border, and the zero point is folded into the start value:
 *   acc = (bias - zp * sum_{all taps} w) + sum_{all taps} w * x~,   x~ = x inside, zp on the border,
 * which is the same integer: the border taps add w * zp, cancelled by the fold. All adds wrap modulo 2^32
 * (uint32 here, SMLAD's own adds on the core), so the accumulator equals the portable kernel's int32 exactly;
 * the requantization and clamp are the portable kernel's.
 *
 * Pairing. An unaligned word of the plane holds 4 neighbours q0..q3 of a row; SXTB16 gives (q0, q2) and SXTB16
 * ROR 8 gives (q1, q3). For a 3-tap row (w0, w1, w2) and W02 = (w0, w2) as int16 halves:
 *   out(x)   += w0 q0 + w1 q1 + w2 q2 = SMLAD(W02, (q0,q2)) + SMLABB((q1,q3), w1)
 *   out(x+1) += w0 q1 + w1 q2 + w2 q3 = SMLAD(W02, (q1,q3)) + SMLATB((q0,q2), w1)
 * 7 instructions per 6 MACs (1 LDR, 2 SXTB16, 4 multiply-accumulates). Other kernel widths and strides take one
 * output at a time: taps in groups of 4, t..t+3 from one word, SMLAD((w_t, w_t+2), (q0,q2)) + SMLAD((w_t+1,
 * w_t+3), (q1,q3)); the last k_w mod 4 taps one by one. */

typedef struct {
    int32_t rows, row_bytes; /* the plane: rows x row_bytes, plane row 0 = input row -pad_top */
} dw_plane_t;

static dw_plane_t dw_plane_geometry(const edgec_depthwise_conv2d_s8_params *p) {
    dw_plane_t g;
    g.rows = (p->out_h - 1) * p->stride_h + p->k_h;
    /* + 1: the 3-tap single output reads one byte beyond its last tap (loaded, never multiplied) */
    g.row_bytes = ((p->out_w - 1) * p->stride_w + p->k_w + 1 + 3) & ~3;
    return g;
}

int32_t edgec_depthwise_conv2d_s8_dsp_plane_bytes(const edgec_depthwise_conv2d_s8_params *p) {
    const dw_plane_t g = dw_plane_geometry(p);
    return g.rows * g.row_bytes;
}

static inline int32_t dw_halves(int32_t bottom, int32_t top) {
    return (int32_t)(((uint32_t)(uint16_t)(int16_t)bottom) | ((uint32_t)(uint16_t)(int16_t)top << 16));
}

/* one output channel's requantization, read once from the params: int8 stores may alias anything, so fields read
 * through `p` inside the output loops would be reloaded after every store */
typedef struct {
    int32_t multiplier, shift, rounding, output_offset, act_min, act_max;
    const int32_t *stage; /* the channel's compile-time output stage (edgec_dsp_out.h), NULL: none */
} dw_requant_t;

static inline dw_requant_t dw_requant_of(const edgec_depthwise_conv2d_s8_params *p, int32_t o, int32_t rounding) {
    dw_requant_t r;
    r.multiplier = p->multiplier[o];
    r.shift = p->shift[o];
    r.rounding = rounding;
    r.output_offset = p->output_offset;
    r.act_min = p->act_min;
    r.act_max = p->act_max;
    r.stage = NULL;
    return r;
}

/* Requantization and clamp: `mode` is a literal at each call. 0, 1: the portable kernel's (TFLite's, onnxruntime's
 * rounding); 2: the compile-time stage (edgec_dsp_out.h), activation [-128, 127]; 3: the stage, then the clamp. */
static inline int8_t dw_output(const dw_requant_t *r, int32_t acc, int32_t mode) {
    if (mode >= 2) {
        const int32_t y = edgec_dsp_requant(acc, r->stage);
        return (int8_t)(mode == 3 ? edgec_clamp(y, r->act_min, r->act_max) : y);
    }
    acc = edgec_requantize(acc, r->multiplier, r->shift, mode) + r->output_offset;
    return (int8_t)edgec_clamp(acc, r->act_min, r->act_max);
}

/* 3 taps of one row for the outputs at row[0] and row[1] (stride 1); w1 in the bottom half of `w1s` */
static inline void dw_row3_pair(const int8_t *row, int32_t w02, int32_t w1s, int32_t *a0, int32_t *a1) {
    const int32_t q = edgec_read_s8x4(row);
    const int32_t q02 = edgec_sxtb16(q), q13 = edgec_sxtb16_ror8(q);
    *a0 = edgec_smlabb(q13, w1s, edgec_smlad(w02, q02, *a0));
    *a1 = edgec_smlatb(q02, w1s, edgec_smlad(w02, q13, *a1));
}

/* the same with w1 in the top half of `w1s` (rows 0 and 1 share one register of middle taps) */
static inline void dw_row3_pair_top(const int8_t *row, int32_t w02, int32_t w1s, int32_t *a0, int32_t *a1) {
    const int32_t q = edgec_read_s8x4(row);
    const int32_t q02 = edgec_sxtb16(q), q13 = edgec_sxtb16_ror8(q);
    *a0 = edgec_smlabt(q13, w1s, edgec_smlad(w02, q02, *a0));
    *a1 = edgec_smlatt(q02, w1s, edgec_smlad(w02, q13, *a1));
}

/* 3 taps of one row for the output at row[0] (reads row[3] too); w1 in the bottom / top half of `w1s` */
static inline int32_t dw_row3_one(const int8_t *row, int32_t w02, int32_t w1s, int32_t acc) {
    const int32_t q = edgec_read_s8x4(row);
    return edgec_smlabb(edgec_sxtb16_ror8(q), w1s, edgec_smlad(w02, edgec_sxtb16(q), acc));
}

static inline int32_t dw_row3_one_top(const int8_t *row, int32_t w02, int32_t w1s, int32_t acc) {
    const int32_t q = edgec_read_s8x4(row);
    return edgec_smlabt(edgec_sxtb16_ror8(q), w1s, edgec_smlad(w02, edgec_sxtb16(q), acc));
}

#if defined(__GNUC__)
#define DW_INLINE static inline __attribute__((always_inline))
#else
#define DW_INLINE static inline
#endif

/* One output channel, 3x3 kernel: every output from the plane, written at out + (y * out_w + x) * out_c.
 * `mode` is a literal at each call (DW_CHANNEL_3X3 below), so the per-output test of the output mode (dw_output)
 * folds away. */
DW_INLINE void dw_channel_3x3(const edgec_depthwise_conv2d_s8_params *p, const int8_t *plane, int32_t row_bytes,
                              const int32_t w02[3], const int32_t w1[3], int32_t start, int32_t o, int8_t *out,
                              const int32_t *stage, int32_t mode) {
    const int32_t step_y = p->stride_h * row_bytes, step_x = p->stride_w, out_c = p->out_c;
    const int32_t out_h = p->out_h, out_w = p->out_w;
    dw_requant_t rq = dw_requant_of(p, o, mode & 1);
    rq.stage = stage;
    const int32_t w02_0 = w02[0], w02_1 = w02[1], w02_2 = w02[2];
    const int32_t w1_01 = dw_halves(w1[0], w1[1]), w1_2 = w1[2]; /* 5 weight registers instead of 6 */
    for (int32_t y = 0; y < out_h; y++) {
        const int8_t *r0 = plane + y * step_y;
        const int8_t *r1 = r0 + row_bytes, *r2 = r1 + row_bytes;
        int32_t x = 0;
        if (step_x == 1) {
            for (; x + 1 < out_w; x += 2, out += 2 * out_c) {
                int32_t a0 = start, a1 = start;
                dw_row3_pair(r0 + x, w02_0, w1_01, &a0, &a1);
                dw_row3_pair_top(r1 + x, w02_1, w1_01, &a0, &a1);
                dw_row3_pair(r2 + x, w02_2, w1_2, &a0, &a1);
                out[0] = dw_output(&rq, a0, mode);
                out[out_c] = dw_output(&rq, a1, mode);
            }
        }
        for (; x < out_w; x++, out += out_c) {
            const int32_t c = x * step_x;
            int32_t acc = dw_row3_one(r0 + c, w02_0, w1_01, start);
            acc = dw_row3_one_top(r1 + c, w02_1, w1_01, acc);
            acc = dw_row3_one(r2 + c, w02_2, w1_2, acc);
            *out = dw_output(&rq, acc, mode);
        }
    }
}

/* one function per output mode (dw_output): the mode's test folds away in each */
#define DW_CHANNEL_3X3(name, mode)                                                                              \
    static void name(const edgec_depthwise_conv2d_s8_params *p, const int8_t *plane, int32_t row_bytes,        \
                     const int32_t w02[3], const int32_t w1[3], int32_t start, int32_t o, int8_t *out,          \
                     const int32_t *stage) {                                                                    \
        dw_channel_3x3(p, plane, row_bytes, w02, w1, start, o, out, stage, mode);                               \
    }
DW_CHANNEL_3X3(dw_channel_3x3_tflite, 0)
DW_CHANNEL_3X3(dw_channel_3x3_onnx, 1)
DW_CHANNEL_3X3(dw_channel_3x3_staged, 2)
DW_CHANNEL_3X3(dw_channel_3x3_staged_clamped, 3)

/* One output channel, any kernel: per row, groups of 4 taps by SMLAD, then the rest one by one */
static void dw_channel_any(const edgec_depthwise_conv2d_s8_params *p, const int8_t *plane, int32_t row_bytes,
                           const int32_t *w02, const int32_t *w13, const int32_t *taps, int32_t start, int32_t o,
                           int8_t *out, const int32_t *stage) {
    const int32_t groups = p->k_w / 4, out_c = p->out_c, out_h = p->out_h, out_w = p->out_w;
    const int32_t k_h = p->k_h, k_w = p->k_w, stride_h = p->stride_h, stride_w = p->stride_w;
    dw_requant_t rq = dw_requant_of(p, o, p->rounding);
    rq.stage = stage;
    const int32_t mode = stage ? (p->act_min == -128 && p->act_max == 127 ? 2 : 3) : p->rounding;
    for (int32_t y = 0; y < out_h; y++) {
        for (int32_t x = 0; x < out_w; x++, out += out_c) {
            const int8_t *window = plane + y * stride_h * row_bytes + x * stride_w;
            int32_t acc = start;
            for (int32_t ky = 0; ky < k_h; ky++, window += row_bytes) {
                const int32_t *g02 = w02 + ky * groups, *g13 = w13 + ky * groups;
                int32_t kx = 0;
                for (int32_t g = 0; g < groups; g++, kx += 4) {
                    const int32_t q = edgec_read_s8x4(window + kx);
                    acc = edgec_smlad(g02[g], edgec_sxtb16(q), acc);
                    acc = edgec_smlad(g13[g], edgec_sxtb16_ror8(q), acc);
                }
                for (; kx < k_w; kx++) {
                    acc = edgec_smlabb(taps[ky * k_w + kx], window[kx], acc);
                }
            }
            *out = dw_output(&rq, acc, mode);
        }
    }
}

/* out[b,y,x,i*dm+m] = clamp(zp_out + MBQM(bias + sum_{ky,kx} w[ky,kx,i*dm+m] * (in[b,iy,ix,i] - zp_in)))
 * In place (input == output, depth multiplier 1): channel c is copied to the plane before any of its outputs is
 * written, and output pixel q of batch b goes to slot (b * out_h * out_w + q) * in_c + c, at or before input
 * pixel b * in_h * in_w + q, in channel c: it overwrites only channel c of this batch (saved in the plane) or
 * input of an earlier batch (consumed): the argument of edgec_depthwise_conv2d_s8_inplace. */
void edgec_depthwise_conv2d_s8_dsp(const edgec_depthwise_conv2d_s8_params *p, const int32_t *stage,
                                   const int8_t *input, int8_t *output, int8_t *plane) {
    const dw_plane_t g = dw_plane_geometry(p);
    const int8_t zp = (int8_t)(-p->input_offset);
    const int32_t in_c = p->in_c, dm = p->depth_multiplier, out_c = p->out_c;
    const int32_t k_taps = p->k_h * p->k_w, groups = p->k_w / 4;
    const int is_3x3 = p->k_h == 3 && p->k_w == 3, full = p->act_min == -128 && p->act_max == 127;
    /* the input rows and columns the plane holds (the rest of the plane is the zp border) */
    const int32_t y_end = edgec_min(p->in_h, g.rows - p->pad_top);
    const int32_t x_end = edgec_min(p->in_w, g.row_bytes - p->pad_left);
    for (int32_t k = 0; k < g.rows * g.row_bytes; k++) plane[k] = zp;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + b * p->in_h * p->in_w * in_c;
        int8_t *out_b = output + b * p->out_h * p->out_w * out_c;
        for (int32_t i = 0; i < in_c; i++) {
            for (int32_t iy = 0; iy < y_end; iy++) { /* gather channel i into the plane's interior */
                const int8_t *src = in_b + iy * p->in_w * in_c + i;
                int8_t *dst = plane + (iy + p->pad_top) * g.row_bytes + p->pad_left;
                for (int32_t ix = 0; ix < x_end; ix++, src += in_c) dst[ix] = *src;
            }
            for (int32_t m = 0; m < dm; m++) {
                const int32_t o = i * dm + m;
                int32_t taps[EDGEC_DW_DSP_MAX_K * EDGEC_DW_DSP_MAX_K];
                uint32_t weight_sum = 0;
                for (int32_t t = 0; t < k_taps; t++) {
                    taps[t] = p->weights[t * out_c + o];
                    weight_sum += (uint32_t)taps[t];
                }
                /* bias - zp * sum(w), modulo 2^32: computed by the compiler when the layer has a stage */
                const int32_t *st = stage ? stage + o * EDGEC_DSP_OUT_WORDS : NULL;
                const int32_t start = st ? st[EDGEC_DSP_OUT_START]
                                         : (int32_t)((p->bias ? (uint32_t)p->bias[o] : 0u) +
                                                     (uint32_t)p->input_offset * weight_sum);
                if (is_3x3) {
                    int32_t w02[3], w1[3];
                    for (int32_t r = 0; r < 3; r++) {
                        w02[r] = dw_halves(taps[3 * r], taps[3 * r + 2]);
                        w1[r] = taps[3 * r + 1];
                    }
                    int8_t *out_o = out_b + o;
                    if (st && full) dw_channel_3x3_staged(p, plane, g.row_bytes, w02, w1, start, o, out_o, st);
                    else if (st) dw_channel_3x3_staged_clamped(p, plane, g.row_bytes, w02, w1, start, o, out_o, st);
                    else if (p->rounding) dw_channel_3x3_onnx(p, plane, g.row_bytes, w02, w1, start, o, out_o, st);
                    else dw_channel_3x3_tflite(p, plane, g.row_bytes, w02, w1, start, o, out_o, st);
                } else {
                    int32_t w02[EDGEC_DW_DSP_MAX_K * EDGEC_DW_DSP_MAX_K / 4];
                    int32_t w13[EDGEC_DW_DSP_MAX_K * EDGEC_DW_DSP_MAX_K / 4];
                    for (int32_t r = 0; r < p->k_h; r++) {
                        for (int32_t q = 0; q < groups; q++) {
                            const int32_t *t = taps + r * p->k_w + 4 * q;
                            w02[r * groups + q] = dw_halves(t[0], t[2]);
                            w13[r * groups + q] = dw_halves(t[1], t[3]);
                        }
                    }
                    dw_channel_any(p, plane, g.row_bytes, w02, w13, taps, start, o, out_b + o, st);
                }
            }
        }
    }
}
