#include "depthwise_conv2d_s8_mve.h"

#include "edgec_fixedpoint.h"
#include "edgec_mve.h"

/* out[b,y,x,i*dm+m] = clamp(zp_out + MBQM(bias_folded + sum_{ky,kx} w[ky,kx,i*dm+m] * x~[b, y s_h + ky, x s_w + kx]))
 * with x~ the plane: channel i of the input, the input zero point on its border. The portable kernel skips the
 * padded taps; here they add w * zp, which the fold (- zp * sum of all taps) cancels: the same int32 (edgec_mve.h).
 *
 * Per 4 outputs: 4 gather VLDRB.U8 (the window at 8-bit offsets ky * row_bytes + kx; lanes past the taps read the
 * window's first byte, times a zero weight), 4 VMLADAV.S8 against the taps, the lanes into a vector, VADD of the
 * start value, the requantization and one scatter VSTRB.32. The groups of 4 run along x, or along y when the output
 * is taller than wide (kws: 25 x 5), so that fewer groups are partial. */

typedef struct {
    int32_t rows, row_bytes;    /* the plane; plane row 0 is input row -pad_top, column 0 input column -pad_left */
    int32_t along_y;            /* groups of 4 outputs along y (else along x) */
    int32_t step_a, step_b;     /* plane bytes between lines of groups (a) and between outputs of a group (b) */
    int32_t lines, per_line;    /* lines of groups and outputs per line */
    int32_t out_a, out_b;       /* output elements between lines and between outputs of a group (x out_c) */
} mve_dw_t;

static mve_dw_t mve_dw_geometry(const edgec_depthwise_conv2d_s8_params *p) {
    mve_dw_t g;
    g.rows = (p->out_h - 1) * p->stride_h + p->k_h;
    g.row_bytes = (p->out_w - 1) * p->stride_w + p->k_w;
    g.along_y = p->out_h > p->out_w;
    const int32_t step_x = p->stride_w, step_y = p->stride_h * g.row_bytes;
    g.step_a = g.along_y ? step_x : step_y;
    g.step_b = g.along_y ? step_y : step_x;
    g.lines = g.along_y ? p->out_w : p->out_h;
    g.per_line = g.along_y ? p->out_h : p->out_w;
    g.out_a = (g.along_y ? 1 : p->out_w) * p->out_c;
    g.out_b = (g.along_y ? p->out_w : 1) * p->out_c;
    return g;
}

int32_t edgec_depthwise_conv2d_s8_mve_plane_bytes(const edgec_depthwise_conv2d_s8_params *p) {
    const mve_dw_t g = mve_dw_geometry(p);
    return g.rows * g.row_bytes + 3 * g.step_b;
}

int32_t edgec_depthwise_conv2d_s8_mve_fits(const edgec_depthwise_conv2d_s8_params *p) {
    const mve_dw_t g = mve_dw_geometry(p);
    return p->dilation_h == 1 && p->dilation_w == 1 && p->k_h * p->k_w <= 16 &&
           (p->k_h - 1) * g.row_bytes + p->k_w - 1 + 3 * g.step_b <= 255;
}

void edgec_depthwise_conv2d_s8_mve(const edgec_depthwise_conv2d_s8_params *p, const int32_t *bias_folded,
                                   const int8_t *input, int8_t *output, int8_t *plane) {
    const mve_dw_t g = mve_dw_geometry(p);
    const int32_t in_c = p->in_c, in_w = p->in_w, dm = p->depth_multiplier, out_c = p->out_c;
    const int32_t k_w = p->k_w, taps = p->k_h * p->k_w;
    const edgec_mve_out_t st = {p->output_offset, p->act_min, p->act_max, p->rounding};
    /* the input rows and columns the plane holds (the rest of the plane is the zp border) */
    const int32_t y_end = edgec_min(p->in_h, g.rows - p->pad_top), x_end = edgec_min(in_w, g.row_bytes - p->pad_left);
    const int32_t plane_bytes = g.rows * g.row_bytes + 3 * g.step_b;
    const int8x16_t zp = vdupq_n_s8((int8_t)-p->input_offset);
    for (int32_t k = 0; k < plane_bytes; k += 16) vstrbq_p_s8(plane + k, zp, vctp8q((uint32_t)(plane_bytes - k)));
    /* the window's offsets (lanes past the taps: 0), then those of the 4 outputs of a group */
    uint8_t window[16] = {0};
    for (int32_t t = 0; t < taps; t++) window[t] = (uint8_t)((t / k_w) * g.row_bytes + t % k_w);
    const uint8x16_t off0 = vld1q_u8(window);
    const uint8x16_t off1 = vaddq_n_u8(off0, (uint8_t)g.step_b), off2 = vaddq_n_u8(off1, (uint8_t)g.step_b);
    const uint8x16_t off3 = vaddq_n_u8(off2, (uint8_t)g.step_b);
    const uint32x4_t out_offsets = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)g.out_b);
    /* the plane's interior is gathered 8 bytes at a time: offsets 0, in_c, ..., 7 in_c (16-bit) */
    const uint16x8_t col_offsets = vmulq_n_u16(vidupq_n_u16(0, 1), (uint16_t)in_c);
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + b * p->in_h * in_w * in_c;
        int8_t *out_b = output + b * p->out_h * p->out_w * out_c;
        for (int32_t i = 0; i < in_c; i++) {
            for (int32_t iy = 0; iy < y_end; iy++) { /* channel i into the plane's interior */
                const int8_t *src = in_b + iy * in_w * in_c + i;
                int8_t *dst = plane + (iy + p->pad_top) * g.row_bytes + p->pad_left;
                for (int32_t ix = 0; ix < x_end; ix += 8, src += 8 * in_c, dst += 8) {
                    const mve_pred16_t pr = vctp16q((uint32_t)(x_end - ix));
                    vstrbq_p_s16(dst, vldrbq_gather_offset_z_s16(src, col_offsets, pr), pr);
                }
            }
            for (int32_t m = 0; m < dm; m++) {
                const int32_t o = i * dm + m;
                int8_t tap[16] = {0};
                for (int32_t t = 0; t < taps; t++) tap[t] = p->weights[t * out_c + o];
                const int8x16_t w = vld1q_s8(tap);
                const int32_t start = bias_folded[o], multiplier = p->multiplier[o], shift = p->shift[o];
                for (int32_t a = 0; a < g.lines; a++) {
                    const int8_t *win = plane + a * g.step_a;
                    int8_t *dst = out_b + o + a * g.out_a;
                    for (int32_t q = 0; q < g.per_line; q += 4, win += 4 * g.step_b, dst += 4 * g.out_b) {
                        int32x4_t acc = vdupq_n_s32(vmladavq_s8(vldrbq_gather_offset_s8(win, off0), w));
                        acc = vsetq_lane_s32(vmladavq_s8(vldrbq_gather_offset_s8(win, off1), w), acc, 1);
                        acc = vsetq_lane_s32(vmladavq_s8(vldrbq_gather_offset_s8(win, off2), w), acc, 2);
                        acc = vsetq_lane_s32(vmladavq_s8(vldrbq_gather_offset_s8(win, off3), w), acc, 3);
                        acc = vaddq_n_s32(acc, start);
                        if (st.rounding) {
                            const int32_t ms[4] = {multiplier, multiplier, multiplier, multiplier};
                            const int32_t ss[4] = {shift, shift, shift, shift};
                            acc = edgec_mve_requantize_f32(acc, ms, ss);
                        } else {
                            acc = edgec_mve_mbqm_n(acc, multiplier, shift);
                        }
                        vstrbq_scatter_offset_p_s32(dst, out_offsets, edgec_mve_offset_clamp(acc, st),
                                                    vctp32q((uint32_t)(g.per_line - q)));
                    }
                }
            }
        }
    }
}
