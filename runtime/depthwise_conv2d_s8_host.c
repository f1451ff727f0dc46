#include <string.h>

#include "depthwise_conv2d_s8_host.h"
#include "edgec_fixedpoint.h"
#include "edgec_host.h"

/* out[y,x,c] = clamp(zp_out + MBQM(bias[c] + sum_{ky,kx inside} w[ky,kx,c] * (in[iy,ix,c] - zp_in)))
 * exactly as the portable kernel (padded taps skipped, the bias added to the same int32 sum: the terms are
 * added in another order, an exact integer sum that fits int32 either way). Vectorized along the channels:
 * per output pixel, 16 channels at a time are 16 int32 accumulators; each inside tap adds w (int16) times
 * x - zp_in (in [-255, 255], int16) to them, a loop of constant trip count 16 that gcc -O2 turns into
 * PMULLW/PMULHW pairs widened into PADDD (SSE2). Channels past the last multiple of 16 are done one by one. */

typedef struct {
    const int32_t *bias, *multiplier, *shift, *requant;
    int32_t rounding, input_offset, output_offset, act_min, act_max;
} dw_host_stage;

/* channels [c0, c0 + n): edgec_host.h's output stage, or edgec_requantize for onnxruntime's rounding (requant
 * NULL), chosen once per block */
static void dw_host_outputs(const dw_host_stage *st, const int32_t *acc, int32_t c0, int32_t n, int8_t *out) {
    if (st->requant) {
        for (int32_t j = 0; j < n; j++) {
            out[c0 + j] = edgec_host_out(acc[j], st->requant + 4 * (c0 + j), st->output_offset, st->act_min,
                                         st->act_max);
        }
    } else {
        for (int32_t j = 0; j < n; j++) {
            const int32_t c = c0 + j;
            const int32_t y = edgec_requantize(acc[j], st->multiplier[c], st->shift[c], st->rounding);
            out[c] = (int8_t)edgec_clamp(y + st->output_offset, st->act_min, st->act_max);
        }
    }
}

/* One output pixel: rows[ky] is input row iy (or NULL outside the input), columns [kx0, kx1) are inside. */
static void dw_host_pixel(const edgec_depthwise_conv2d_s8_params *p, const dw_host_stage *st,
                          const int16_t *weights16, const int8_t *const *rows, int32_t ix0, int32_t kx0,
                          int32_t kx1, int8_t *out) {
    const int32_t c_all = p->out_c, blocks = c_all / EDGEC_DW_HOST_BLOCK;
    const int16_t off = (int16_t)st->input_offset;
    for (int32_t blk = 0; blk < blocks; blk++) {
        const int32_t c0 = blk * EDGEC_DW_HOST_BLOCK;
        int32_t acc[EDGEC_DW_HOST_BLOCK];
        for (int32_t j = 0; j < EDGEC_DW_HOST_BLOCK; j++) acc[j] = st->bias ? st->bias[c0 + j] : 0;
        for (int32_t ky = 0; ky < p->k_h; ky++) {
            if (!rows[ky]) continue;
            for (int32_t kx = kx0; kx < kx1; kx++) {
                const int8_t *x = rows[ky] + (ix0 + kx * p->dilation_w) * c_all + c0;
                const int16_t *w = weights16 + (ky * p->k_w + kx) * c_all + c0;
                for (int32_t j = 0; j < EDGEC_DW_HOST_BLOCK; j++) {
                    const int16_t xo = (int16_t)(x[j] + off);
                    acc[j] += (int32_t)w[j] * xo;
                }
            }
        }
        dw_host_outputs(st, acc, c0, EDGEC_DW_HOST_BLOCK, out);
    }
    for (int32_t c = blocks * EDGEC_DW_HOST_BLOCK; c < c_all; c++) {
        int32_t acc = 0;
        for (int32_t ky = 0; ky < p->k_h; ky++) {
            if (!rows[ky]) continue;
            for (int32_t kx = kx0; kx < kx1; kx++) {
                const int32_t x = rows[ky][(ix0 + kx * p->dilation_w) * c_all + c];
                acc += (int32_t)weights16[(ky * p->k_w + kx) * c_all + c] * (x + st->input_offset);
            }
        }
        if (st->bias) acc += st->bias[c];
        dw_host_outputs(st, &acc, c, 1, out);
    }
}

void edgec_depthwise_conv2d_s8_host(const edgec_depthwise_conv2d_s8_params *p, const int16_t *weights16,
                                    const int32_t *requant, const int8_t *input, int8_t *output) {
    int8_t ring[EDGEC_DW_HOST_MAX_RING];
    const int8_t *rows[64]; /* k_h <= 64 (the compiler checks) */
    const dw_host_stage st = {p->bias, p->multiplier, p->shift, requant, p->rounding, p->input_offset,
                              p->output_offset, p->act_min, p->act_max};
    const int32_t in_row = p->in_w * p->in_c, span = (p->k_h - 1) * p->dilation_h + 1;
    const int32_t in_place = input == output;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + b * p->in_h * in_row;
        int8_t *out_b = output + b * p->out_h * p->out_w * p->out_c;
        int32_t next_row = 0; /* in place: the first input row not yet in the ring */
        for (int32_t y = 0; y < p->out_h; y++) {
            const int32_t iy0 = y * p->stride_h - p->pad_top;
            if (in_place) { /* rows up to the window's last are copied before row y's outputs overwrite them */
                const int32_t last = edgec_min(iy0 + span - 1, p->in_h - 1);
                for (; next_row <= last; next_row++) {
                    memcpy(ring + (next_row % span) * in_row, in_b + next_row * in_row, (size_t)in_row);
                }
            }
            for (int32_t ky = 0; ky < p->k_h; ky++) {
                const int32_t iy = iy0 + ky * p->dilation_h;
                rows[ky] = iy < 0 || iy >= p->in_h ? NULL
                           : in_place              ? ring + (iy % span) * in_row
                                                   : in_b + iy * in_row;
            }
            for (int32_t x = 0; x < p->out_w; x++) {
                const int32_t ix0 = x * p->stride_w - p->pad_left;
                int32_t kx0, kx1;
                edgec_tap_range(ix0, 0, p->in_w, p->k_w, p->dilation_w, &kx0, &kx1);
                dw_host_pixel(p, &st, weights16, rows, ix0, kx0, kx1, out_b + (y * p->out_w + x) * p->out_c);
            }
        }
    }
}
