#include "depthwise_conv2d_s8.h"
#include "edgec_fixedpoint.h"

/* out[b,y,x,i*dm+m] = clamp(zp_out + MBQM(bias + sum_{ky,kx} w[ky,kx,i*dm+m] * (in[b,iy,ix,i] - zp_in)))
 * Over a region (edgec_region.h): y, x run over the computed rectangle; iy, ix are in the input window's
 * coordinates and the padding test compares them with the full input's bounds shifted the same way. */
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
                int8_t *out = out_b + ((y - r->ob_y0) * r->ob_w + (x - r->ob_x0)) * p->out_c;
                for (int32_t i = 0; i < p->in_c; i++) {
                    for (int32_t m = 0; m < p->depth_multiplier; m++) {
                        const int32_t o = i * p->depth_multiplier + m;
                        int32_t acc = 0;
                        for (int32_t ky = 0; ky < p->k_h; ky++) {
                            const int32_t iy = in_y0 + ky * p->dilation_h;
                            if (iy < y_lo || iy >= y_hi) continue;
                            for (int32_t kx = 0; kx < p->k_w; kx++) {
                                const int32_t ix = in_x0 + kx * p->dilation_w;
                                if (ix < x_lo || ix >= x_hi) continue;
                                const int32_t in = in_b[iy * in_row + ix * p->in_c + i];
                                acc += (int32_t)p->weights[(ky * p->k_w + kx) * p->out_c + o] * (in + p->input_offset);
                            }
                        }
                        if (p->bias) acc += p->bias[o];
                        acc = edgec_mbqm(acc, p->multiplier[o], p->shift[o]) + p->output_offset;
                        out[o] = (int8_t)edgec_clamp(acc, p->act_min, p->act_max);
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
