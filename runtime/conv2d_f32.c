#include "conv2d_f32.h"
#include "edgec_region.h"

/* out[b,y,x,o] = clamp(sum_{ky,kx,i} in[b,iy,ix,g*icg+i] * w[o,ky,kx,i] + bias[o])
 * with iy = y*stride_h - pad_top + ky*dilation_h; taps outside the input are skipped (zero padding): their range
 * is found once per pixel (edgec_tap_range).
 * The sum runs ky, kx, i ascending in one float, then the bias is added (TFLite's reference order). */
void edgec_conv2d_f32(const edgec_conv2d_f32_params *p, const float *input, float *output) {
    const int32_t in_c_per_group = p->in_c / p->groups;
    const int32_t out_c_per_group = p->out_c / p->groups;
    for (int32_t b = 0; b < p->batches; b++) {
        for (int32_t y = 0; y < p->out_h; y++) {
            const int32_t in_y0 = y * p->stride_h - p->pad_top;
            int32_t ky0, ky1; /* the rows of the kernel that fall inside the input */
            edgec_tap_range(in_y0, 0, p->in_h, p->k_h, p->dilation_h, &ky0, &ky1);
            for (int32_t x = 0; x < p->out_w; x++) {
                const int32_t in_x0 = x * p->stride_w - p->pad_left;
                int32_t kx0, kx1;
                edgec_tap_range(in_x0, 0, p->in_w, p->k_w, p->dilation_w, &kx0, &kx1);
                float *out = output + ((b * p->out_h + y) * p->out_w + x) * p->out_c;
                for (int32_t o = 0; o < p->out_c; o++) {
                    const int32_t group = o / out_c_per_group;
                    const float *w = p->weights + o * p->k_h * p->k_w * in_c_per_group;
                    float acc = 0.0f;
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int32_t iy = in_y0 + ky * p->dilation_h;
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            const int32_t ix = in_x0 + kx * p->dilation_w;
                            const float *in = input + ((b * p->in_h + iy) * p->in_w + ix) * p->in_c
                                              + group * in_c_per_group;
                            const float *wk = w + (ky * p->k_w + kx) * in_c_per_group;
                            for (int32_t i = 0; i < in_c_per_group; i++) acc += in[i] * wk[i];
                        }
                    }
                    if (p->bias) acc += p->bias[o];
                    out[o] = edgec_clampf(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}
