#include <string.h>

#include "conv2d_s8.h"
#include "edgec_fixedpoint.h"

/* out[b,y,x,o] = clamp(zp_out + MBQM(bias[o] + sum_{ky,kx,i} w[o,ky,kx,i] * (in[b,iy,ix,g*icg+i] - zp_in)))
 * with iy = y*stride_h - pad_top + ky*dilation_h (taps outside the input contribute nothing: zero padding
 * in the real domain is padding with zp_in in the integer one).
 * Over a region (edgec_region.h): y, x run over the computed rectangle; input rows and columns are in the input
 * window's coordinates, and the taps inside the full input (shifted the same way) are found once per pixel, so
 * a window behaves exactly like the full tensor.
 * Two weight sources (weights_frozen set: the first weight_split input channels of each filter from `weights`,
 * the rest from weights_frozen; region_body's channel loop in two parts, inlined with two_sources a constant, so
 * that the one-source kernel costs nothing more): the same int32 terms summed, input channels ascending; integer
 * addition is exact, so the output is the same bits as one weight tensor. Cost: one more pointer per tap. */

#if defined(__GNUC__)
#define EDGEC_ALWAYS_INLINE __attribute__((always_inline)) inline
#else
#define EDGEC_ALWAYS_INLINE inline
#endif

/* The loops of both entry points; two_sources is a constant at each call, so the one-source kernel compiles to
 * the plain loop (no frozen pointer, no second channel loop). */
static EDGEC_ALWAYS_INLINE void region_body(const edgec_conv2d_s8_params *p, const edgec_region *r,
                                            const int8_t *input, int8_t *output, const int two_sources) {
    const int32_t in_c_per_group = p->in_c / p->groups;
    const int32_t out_c_per_group = p->out_c / p->groups;
    const int32_t y_lo = -r->in_y0, y_hi = p->in_h - r->in_y0; /* the full input's rows, in window rows */
    const int32_t x_lo = -r->in_x0, x_hi = p->in_w - r->in_x0;
    const int32_t in_row = r->in_w * p->in_c;
    const int32_t split = two_sources ? p->weight_split : in_c_per_group; /* channels read from weights */
    const int32_t rest = in_c_per_group - split;                          /* from weights_frozen */
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + b * r->in_h * in_row;
        int8_t *out_b = output + b * r->ob_h * r->ob_w * p->out_c;
        for (int32_t y = r->out_y0; y < r->out_y0 + r->out_h; y++) {
            const int32_t in_y0 = y * p->stride_h - p->pad_top - r->in_y0;
            int32_t ky0, ky1; /* the rows of the kernel that fall inside the full input */
            edgec_tap_range(in_y0, y_lo, y_hi, p->k_h, p->dilation_h, &ky0, &ky1);
            for (int32_t x = r->out_x0; x < r->out_x0 + r->out_w; x++) {
                const int32_t in_x0 = x * p->stride_w - p->pad_left - r->in_x0;
                int32_t kx0, kx1;
                edgec_tap_range(in_x0, x_lo, x_hi, p->k_w, p->dilation_w, &kx0, &kx1);
                int8_t *out = out_b + ((y - r->ob_y0) * r->ob_w + (x - r->ob_x0)) * p->out_c;
                for (int32_t o = 0; o < p->out_c; o++) {
                    const int32_t group = o / out_c_per_group;
                    const int8_t *w = p->weights + o * p->k_h * p->k_w * split;
                    int32_t acc = 0;
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int8_t *in_y = in_b + (in_y0 + ky * p->dilation_h) * in_row + group * in_c_per_group;
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            const int8_t *in = in_y + (in_x0 + kx * p->dilation_w) * p->in_c;
                            const int8_t *wk = w + (ky * p->k_w + kx) * split;
                            for (int32_t i = 0; i < split; i++) {
                                acc += (int32_t)wk[i] * ((int32_t)in[i] + p->input_offset);
                            }
                            if (two_sources) {
                                const int8_t *wr = p->weights_frozen + (o * p->k_h * p->k_w + ky * p->k_w + kx) * rest;
                                for (int32_t i = 0; i < rest; i++) {
                                    acc += (int32_t)wr[i] * ((int32_t)in[split + i] + p->input_offset);
                                }
                            }
                        }
                    }
                    if (p->bias) acc += p->bias[o];
                    acc = edgec_requantize(acc, p->multiplier[o], p->shift[o], p->rounding) + p->output_offset;
                    out[o] = (int8_t)edgec_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

/* the two-source loop out of line, so that the one-source loop compiles alone in its function, as the portable
 * kernel's instruction counts were measured (inlined side by side, gcc allocated the one-source loop's registers
 * worse: kws on the emulated M4 +1.7 %) */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void region_two_sources(const edgec_conv2d_s8_params *p, const edgec_region *r, const int8_t *input,
                               int8_t *output) {
    region_body(p, r, input, output, 1);
}

void edgec_conv2d_s8_region(const edgec_conv2d_s8_params *p, const edgec_region *r, const int8_t *input,
                            int8_t *output) {
    if (p->weights_frozen) region_two_sources(p, r, input, output); /* a partially trained conv of a training step */
    else region_body(p, r, input, output, 0);
}

void edgec_conv2d_s8(const edgec_conv2d_s8_params *p, const int8_t *input, int8_t *output) {
    const edgec_region whole = edgec_whole_region(p->in_h, p->in_w, p->out_h, p->out_w);
    edgec_conv2d_s8_region(p, &whole, input, output);
}

/* Pointwise in place. Pixel q is saved to `pixel`, then its out_c outputs are computed from the saved copy into
 * [q * out_c, (q + 1) * out_c) by the region kernel above on a one-pixel layer (the same accumulation and
 * requantization, so the same bits).
 * out_c <= in_c, q ascending: the output of q ends at (q + 1) * out_c <= (q + 1) * in_c, so it overwrites only
 * pixel q (saved) and pixels before it (consumed), never an unread one.
 * out_c > in_c, q descending: the output of q starts at q * out_c >= q * in_c, so it overwrites only pixel q
 * (saved) and pixels after it (consumed); the buffer is pixels * out_c bytes, the input at its start. */
void edgec_conv2d_s8_pointwise_inplace(const edgec_conv2d_s8_params *p, int8_t *data, int8_t *pixel) {
    edgec_conv2d_s8_params one = *p;
    one.batches = one.in_h = one.in_w = one.out_h = one.out_w = 1;
    const edgec_region whole = edgec_whole_region(1, 1, 1, 1);
    const int32_t pixels = p->batches * p->in_h * p->in_w;
    const int32_t forward = p->out_c <= p->in_c;
    for (int32_t n = 0; n < pixels; n++) {
        const int32_t q = forward ? n : pixels - 1 - n;
        memcpy(pixel, data + q * p->in_c, (size_t)p->in_c);
        edgec_conv2d_s8_region(&one, &whole, pixel, data + q * p->out_c);
    }
}
