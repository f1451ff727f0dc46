#include "depthwise_conv2d_s8.h"
#include "edgec_fixedpoint.h"

/* One output element, o, of the window whose top-left tap is (in_y0, in_x0): `plane` is its input channel, with
 * `row` and `col` elements between rows and pixels; only the taps ky in [t->ky0, t->ky1), kx in [t->kx0, t->kx1)
 * are inside the input (the others are padding), found once per pixel by depthwise_taps. Both kernels below
 * (and only this function) do the arithmetic. */
typedef struct { int32_t ky0, ky1, kx0, kx1; } depthwise_taps_t;

static inline depthwise_taps_t depthwise_taps(const edgec_depthwise_conv2d_s8_params *p, int32_t in_y0,
                                              int32_t in_x0, int32_t y_lo, int32_t y_hi, int32_t x_lo,
                                              int32_t x_hi) {
    depthwise_taps_t t;
    edgec_tap_range(in_y0, y_lo, y_hi, p->k_h, p->dilation_h, &t.ky0, &t.ky1);
    edgec_tap_range(in_x0, x_lo, x_hi, p->k_w, p->dilation_w, &t.kx0, &t.kx1);
    return t;
}

static inline int8_t depthwise_one(const edgec_depthwise_conv2d_s8_params *p, const int8_t *plane, int32_t row,
                                   int32_t col, int32_t in_y0, int32_t in_x0, const depthwise_taps_t *t,
                                   int32_t o) {
    int32_t acc = 0;
    for (int32_t ky = t->ky0; ky < t->ky1; ky++) {
        const int8_t *in_y = plane + (in_y0 + ky * p->dilation_h) * row;
        const int8_t *w_y = p->weights + ky * p->k_w * p->out_c + o;
        for (int32_t kx = t->kx0; kx < t->kx1; kx++) {
            const int32_t in = in_y[(in_x0 + kx * p->dilation_w) * col];
            acc += (int32_t)w_y[kx * p->out_c] * (in + p->input_offset);
        }
    }
    if (p->bias) acc += p->bias[o];
    acc = edgec_requantize(acc, p->multiplier[o], p->shift[o], p->rounding) + p->output_offset;
    return (int8_t)edgec_clamp(acc, p->act_min, p->act_max);
}

/* out[b,y,x,i*dm+m] = clamp(zp_out + MBQM(bias + sum_{ky,kx} w[ky,kx,i*dm+m] * (in[b,iy,ix,i] - zp_in)))
 * Over a region (edgec_region.h): y, x run over the computed rectangle; input rows and columns are in the input
 * window's coordinates, and the taps inside the full input (shifted the same way) are found once per pixel. */
void edgec_depthwise_conv2d_s8_region(const edgec_depthwise_conv2d_s8_params *p, const edgec_region *r,
                                      const int8_t *input, int8_t *output) {
    const int32_t y_lo = -r->in_y0, y_hi = p->in_h - r->in_y0; /* the full input's rows, in window rows */
    const int32_t x_lo = -r->in_x0, x_hi = p->in_w - r->in_x0;
    const int32_t in_row = r->in_w * p->in_c;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + b * r->in_h * in_row;
        int8_t *out_b = output + b * r->ob_h * r->ob_w * p->out_c;
        for (int32_t y = r->out_y0; y < r->out_y0 + r->out_h; y++) {
            const int32_t in_y0 = y * p->stride_h - p->pad_top - r->in_y0;
            for (int32_t x = r->out_x0; x < r->out_x0 + r->out_w; x++) {
                const int32_t in_x0 = x * p->stride_w - p->pad_left - r->in_x0;
                const depthwise_taps_t taps = depthwise_taps(p, in_y0, in_x0, y_lo, y_hi, x_lo, x_hi);
                int8_t *out = out_b + ((y - r->ob_y0) * r->ob_w + (x - r->ob_x0)) * p->out_c;
                for (int32_t i = 0; i < p->in_c; i++) {
                    for (int32_t m = 0; m < p->depth_multiplier; m++) {
                        const int32_t o = i * p->depth_multiplier + m;
                        out[o] = depthwise_one(p, in_b + i, in_row, p->in_c, in_y0, in_x0, &taps, o);
                    }
                }
            }
        }
    }
}

void edgec_depthwise_conv2d_s8(const edgec_depthwise_conv2d_s8_params *p, const int8_t *input, int8_t *output) {
    const edgec_region whole = edgec_whole_region(p->in_h, p->in_w, p->out_h, p->out_w);
    edgec_depthwise_conv2d_s8_region(p, &whole, input, output);
}

/* In place (TinyEngine's scheme), depth_multiplier 1: `data` holds the input and receives the output, `plane` is
 * in_h * in_w bytes of scratch. Channel by channel, the input channel is saved to `plane`, then the output channel
 * is computed from it into the same buffer. Output pixel q = y * out_w + x of batch b goes to slot
 * (b * out_h * out_w + q) * in_c + c, at or before input pixel b * in_h * in_w + q (out_h * out_w <= in_h * in_w),
 * and in channel c's slot: it overwrites only channel c of batch b (saved) or of an earlier batch (consumed).
 * Any kernel size, stride, dilation and padding. */
void edgec_depthwise_conv2d_s8_inplace(const edgec_depthwise_conv2d_s8_params *p, int8_t *data, int8_t *plane) {
    const int32_t pixels = p->in_h * p->in_w;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *in_b = data + b * pixels * p->in_c;
        int8_t *out_b = data + b * p->out_h * p->out_w * p->out_c;
        for (int32_t c = 0; c < p->in_c; c++) {
            for (int32_t q = 0; q < pixels; q++) plane[q] = in_b[q * p->in_c + c];
            int8_t *out = out_b + c;
            for (int32_t y = 0; y < p->out_h; y++) {
                const int32_t in_y0 = y * p->stride_h - p->pad_top;
                for (int32_t x = 0; x < p->out_w; x++, out += p->out_c) {
                    const int32_t in_x0 = x * p->stride_w - p->pad_left;
                    const depthwise_taps_t taps = depthwise_taps(p, in_y0, in_x0, 0, p->in_h, 0, p->in_w);
                    *out = depthwise_one(p, plane, p->in_w, 1, in_y0, in_x0, &taps, c);
                }
            }
        }
    }
}
