#include "depthwise_conv2d_s8_mve.h"

#include <stddef.h>

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

/* The full groups of 4 outputs of the lines, TFLite's rounding with a right shift and no left shift (the usual
 * per-channel case; the others take the C loop): per group 4 gather VLDRB.U8 of the windows (8-bit offsets `off`
 * and `off1` = off + step_b from one base pointer, stepped by 2 step_b after each two), 4 VMLADAV.S8 into r0, r2
 * (VMLADAV's Rda is even), 4 VMOV.32 of a sum into its lane (the two-lane VMOV is not used: QEMU and the
 * assemblers disagree on which register goes to which lane), VADD of the folded bias (a scalar), VQRDMULH, VSHR +
 * VQADD (-1 on the negative lanes), VRSHL, VADD of the zero point, VMAX, VMIN, one scatter VSTRB.32, ADD of the
 * output pointer, LE: 25 instructions per 4 outputs (GCC's loop of the same intrinsics moved the lanes through the
 * FP registers and re-tested the rounding mode per group). */
/* plane_groups' constants, loaded by the asm into fixed registers (so its operands stay few whatever the caller
 * keeps live) */
typedef struct {
    uint8_t off[16];  /* the window's gather offsets */
    int8_t w[16];     /* the channel's taps, zeros past them */
    uint32_t oo[4];   /* the 4 outputs' offsets in the output */
    int32_t lo[4], hi[4];
    int32_t step_b, out_step, mult, right, zp, start;
    int32_t groups, lines;  /* full groups per line, lines (counted down by the asm) */
    int32_t skip_a, skip_d; /* from a line's end to the next line's start: plane bytes, output bytes */
    uint8_t off1[16];       /* off + step_b: the group's second (and fourth) window */
} plane_asm_t;
/* the asm reads the words at these offsets */
typedef char plane_asm_layout[offsetof(plane_asm_t, step_b) == 80 && offsetof(plane_asm_t, off1) == 120 ? 1 : -1];

/* k->lines lines of k->groups full groups each, from win and dst (the next line k->skip_a plane bytes and k->skip_d
 * output bytes past a line's end: per line LDR, DLS, 2 LDR + 2 ADD, LDR, SUBS, STR, BNE) */
static inline __attribute__((always_inline)) void plane_groups(const int8_t *win, int8_t *dst, plane_asm_t *k) {
    if (k->groups <= 0 || k->lines <= 0) return;
    /* the operands in fixed registers too: left to choose, GCC finds none in some callers */
    register const int8_t *a_ __asm__("r6") = win;
    register int8_t *d_ __asm__("r9") = dst;
    register plane_asm_t *k_ __asm__("r10") = k;
    __asm__ volatile("vldrb.8 q0, [%[k]]\n\t"
                     "vldrb.8 q1, [%[k], #16]\n\t"
                     "vldrw.32 q2, [%[k], #32]\n\t"
                     "vldrw.32 q3, [%[k], #48]\n\t"
                     "vldrw.32 q4, [%[k], #64]\n\t"
                     "ldrd r1, r3, [%[k], #80]\n\t"
                     "ldrd r4, r5, [%[k], #88]\n\t"
                     "ldrd r12, r8, [%[k], #96]\n\t"
                     "add r0, %[k], #120\n\t"
                     "vldrb.8 q5, [r0]\n"
                     "2:\n\t"
                     "ldr r0, [%[k], #104]\n\t"
                     "dls lr, r0\n"
                     "1:\n\t"
                     "vldrb.u8 q6, [%[a], q0]\n\t"
                     "vmladav.s8 r0, q6, q1\n\t"
                     "vldrb.u8 q6, [%[a], q5]\n\t"
                     "add %[a], %[a], r1\n\t"
                     "vmladav.s8 r2, q6, q1\n\t"
                     "vldrb.u8 q6, [%[a], q0]\n\t"
                     "vmov.32 q7[0], r0\n\t"
                     "vmladav.s8 r0, q6, q1\n\t"
                     "vmov.32 q7[1], r2\n\t"
                     "vldrb.u8 q6, [%[a], q5]\n\t"
                     "add %[a], %[a], r1\n\t"
                     "vmladav.s8 r2, q6, q1\n\t"
                     "vmov.32 q7[2], r0\n\t"
                     "vmov.32 q7[3], r2\n\t"
                     "vadd.i32 q7, q7, r8\n\t"
                     "vqrdmulh.s32 q7, q7, r4\n\t"
                     "vshr.s32 q6, q7, #31\n\t"
                     "vqadd.s32 q7, q7, q6\n\t"
                     "vrshl.s32 q7, r5\n\t"
                     "vadd.i32 q7, q7, r12\n\t"
                     "vmax.s32 q7, q7, q3\n\t"
                     "vmin.s32 q7, q7, q4\n\t"
                     "vstrb.32 q7, [%[d], q2]\n\t"
                     "add %[d], %[d], r3\n\t"
                     "le lr, 1b\n\t"
                     "ldrd r0, r2, [%[k], #112]\n\t"
                     "add %[a], %[a], r0\n\t"
                     "add %[d], %[d], r2\n\t"
                     "ldr r0, [%[k], #108]\n\t"
                     "subs r0, r0, #1\n\t"
                     "str r0, [%[k], #108]\n\t"
                     "bne 2b"
                     : [a] "+r"(a_), [d] "+r"(d_)
                     : [k] "r"(k_)
                     : "r0", "r1", "r2", "r3", "r4", "r5", "r8", "r12", "lr", "d0", "d1", "d2", "d3", "d4", "d5", "d6",
                       "d7", "d8", "d9", "d10", "d11", "d12", "d13", "d14", "d15", "cc", "memory");
}

/* channel 0 of `src` (rows src_row bytes apart, columns in_c) into the plane's interior at dst (rows row_bytes
 * apart): 16 columns per gather VLDRB.U8 when 15 in_c fits the 8-bit offsets, else 8 per VLDRB.S16 gather (16-bit
 * offsets), whole gathers unpredicated, the last 1..7 columns predicated. Out of line: inside the channel loop, the
 * window offsets and output stage kept live there made GCC spill the offset vectors in this loop. */
static __attribute__((noinline)) void plane_copy(const int8_t *src, int8_t *dst, int32_t src_row, int32_t row_bytes,
                                                 int32_t in_c, int32_t x_end, int32_t y_end) {
    const uint16x8_t col_offsets = vmulq_n_u16(vidupq_n_u16(0, 1), (uint16_t)in_c);
    const uint8x16_t col_offsets8 = vmulq_n_u8(vidupq_n_u8(0, 1), (uint8_t)in_c);
    /* the gathers of a row counted once per call (GCC's per-row trip counts of the same loops: about 40
     * instructions per row, more than the gathers for vww's planes) */
    const int32_t n16 = 15 * in_c <= 255 ? x_end / 16 : 0, n8 = (x_end - 16 * n16) / 8;
    const int32_t tail = x_end - 16 * n16 - 8 * n8, step16 = 16 * in_c, step8 = 8 * in_c;
    const mve_pred16_t pr = vctp16q((uint32_t)tail);
    for (int32_t iy = 0; iy < y_end; iy++, src += src_row, dst += row_bytes) {
        const int8_t *s = src;
        int8_t *d = dst;
        for (int32_t j = 0; j < n16; j++, s += step16, d += 16) vstrbq_s8(d, vldrbq_gather_offset_s8(s, col_offsets8));
        for (int32_t j = 0; j < n8; j++, s += step8, d += 8) vstrbq_s16(d, vldrbq_gather_offset_s16(s, col_offsets));
        if (tail) vstrbq_p_s16(d, vldrbq_gather_offset_z_s16(s, col_offsets, pr), pr);
    }
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
    plane_asm_t k __attribute__((aligned(16)));
    vst1q_s32(k.lo, vdupq_n_s32(st.act_min)), vst1q_s32(k.hi, vdupq_n_s32(st.act_max));
    k.step_b = 2 * g.step_b, k.out_step = 4 * g.out_b, k.zp = st.output_offset; /* the asm steps 2 windows */
    k.skip_a = g.step_a - 4 * (g.per_line / 4) * g.step_b, k.skip_d = g.out_a - 4 * (g.per_line / 4) * g.out_b;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + b * p->in_h * in_w * in_c;
        int8_t *out_b = output + b * p->out_h * p->out_w * out_c;
        for (int32_t i = 0; i < in_c; i++) {
            plane_copy(in_b + i, plane + p->pad_top * g.row_bytes + p->pad_left, in_w * in_c, g.row_bytes, in_c,
                       x_end, y_end);
            for (int32_t m = 0; m < dm; m++) {
                const int32_t o = i * dm + m;
                int8_t tap[16] = {0};
                for (int32_t t = 0; t < taps; t++) tap[t] = p->weights[t * out_c + o];
                const int8x16_t w = vld1q_s8(tap);
                const int32_t start = bias_folded[o], multiplier = p->multiplier[o], shift = p->shift[o];
                /* the asm loop takes the full groups when it can (TFLite's rounding, a right shift): all lines at
                 * once when they have no partial group, else line by line */
                const int fast = !st.rounding && shift < 0, full = fast ? g.per_line / 4 : 0;
                const int all_lines = fast && g.per_line % 4 == 0;
                if (fast) {
                    vst1q_u8(k.off, off0), vst1q_u8(k.off1, off1), vst1q_s8(k.w, w), vst1q_u32(k.oo, out_offsets);
                    k.mult = multiplier, k.right = shift, k.start = start, k.groups = full;
                }
                if (all_lines) {
                    k.lines = g.lines;
                    plane_groups(plane, out_b + o, &k);
                    continue;
                }
                for (int32_t a = 0; a < g.lines; a++) {
                    const int8_t *win = plane + a * g.step_a;
                    int8_t *dst = out_b + o + a * g.out_a;
                    k.lines = 1;
                    plane_groups(win, dst, &k);
                    win += 4 * full * g.step_b, dst += 4 * full * g.out_b;
                    for (int32_t q = 4 * full; q < g.per_line; q += 4, win += 4 * g.step_b, dst += 4 * g.out_b) {
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

/* ---- channels as lanes (edgec_depthwise_conv2d_s8_lanes_mve) ----
 * out[y, x, c] = clamp(zp_out + MBQM(bias_folded[c] + sum_{ky,kx} w[ky,kx,c] r[y s_h + ky - pad_top, x s_w + kx, c]))
 * with r the input bordered with the zero point (the ring rows and the zero row): the same int32 as the portable sum
 * (edgec_mve.h, the fold). Per tap and 4 channels: VLDRB.S32 of the inputs, VLDRB.S32 of the weights, VMUL, VADD;
 * per 4 outputs the vector requantization with per-channel multipliers (edgec_mve_mbqm) and one VSTRB.32. */

int32_t edgec_depthwise_conv2d_s8_mve_ring_bytes(const edgec_depthwise_conv2d_s8_params *p) {
    return (p->k_h + 1) * ((p->out_w - 1) * p->stride_w + p->k_w) * p->in_c;
}

/* 4 channels c.. of output pixel x of the row whose window rows are rows[0..k_h), requantized and stored; `tail`
 * (a constant per instantiation): the last group, out_c % 4 channels, predicated */
static inline __attribute__((always_inline)) void lanes_dw_group(const edgec_depthwise_conv2d_s8_params *p,
                                                                 const int8_t *const rows[], int32_t col,
                                                                 const int8_t *wq, int32_t start_c, int8_t *out,
                                                                 edgec_mve_out_t st, const int32_t *bias_folded,
                                                                 mve_pred16_t pr, const int tail, const int onnx) {
    const int32_t C = p->in_c, k_w = p->k_w;
    int32x4_t acc = tail ? vldrwq_z_s32(bias_folded + start_c, pr) : vldrwq_s32(bias_folded + start_c);
    for (int32_t ky = 0; ky < p->k_h; ky++) {
        const int8_t *src = rows[ky] + col * C + start_c;
        for (int32_t kx = 0; kx < k_w; kx++, src += C, wq += 4) {
            const int32x4_t x = tail ? vldrbq_z_s32(src, pr) : vldrbq_s32(src);
            acc = vaddq_s32(acc, vmulq_s32(x, vldrbq_s32(wq)));
        }
    }
    if (onnx) {
        int32_t m[4], s[4];
        for (int i = 0; i < 4; i++) {
            const int32_t c = start_c + i < C ? start_c + i : start_c;
            m[i] = p->multiplier[c], s[i] = p->shift[c];
        }
        acc = edgec_mve_requantize_f32(acc, m, s);
    } else {
        const int32x4_t m = tail ? vldrwq_z_s32(p->multiplier + start_c, pr) : vldrwq_s32(p->multiplier + start_c);
        const int32x4_t s = tail ? vldrwq_z_s32(p->shift + start_c, pr) : vldrwq_s32(p->shift + start_c);
        acc = edgec_mve_mbqm(acc, m, s);
    }
    acc = edgec_mve_offset_clamp(acc, st);
    if (tail)
        vstrbq_p_s32(out + start_c, acc, pr);
    else
        vstrbq_s32(out + start_c, acc);
}

/* 3x3, the full groups of 4 channels of one output pixel: the 3 window rows from r0, r1, r2 (at the pixel's first
 * column), each tap one gather VLDRB.S32 (offsets 0..3 + kx C: one row pointer serves its 3 taps), one VLDRB.S32
 * of the weights, VMUL, VADD; then TFLite's MBQM with the group's record (edgec_mve.h: VSHL by the left shift,
 * VQRDMULH, -1 on the negative lanes when shifting right, VRSHL by -right), + zp, the clamp, one VSTRB.32: 55
 * instructions per 4 outputs with the loop. One asm block: GCC's allocation of the same intrinsics spills the
 * weights and offsets (about 6 instructions per tap). */
static inline __attribute__((always_inline)) void lanes_dw_3x3(const int8_t *r0, const int8_t *r1, const int8_t *r2,
                                                               const int8_t *wq, const int32_t *rec, int8_t *out,
                                                               int32_t groups, uint32x4_t off0, uint32x4_t off1,
                                                               uint32x4_t off2, int32_t zp, int32x4_t lo,
                                                               int32x4_t hi) {
    if (groups <= 0) return;
    __asm__ volatile(
        "1:\n\t"
        "vldrw.32 q5, [%[rec]], #64\n\t"
        "vldrb.s32 q6, [%[r0], %q[o0]]\n\t"
        "vldrb.s32 q7, [%[w]], #36\n\t"
        "vmul.i32 q6, q6, q7\n\t"
        "vadd.i32 q5, q5, q6\n\t"
        "vldrb.s32 q6, [%[r0], %q[o1]]\n\t"
        "vldrb.s32 q7, [%[w], #-32]\n\t"
        "vmul.i32 q6, q6, q7\n\t"
        "vadd.i32 q5, q5, q6\n\t"
        "vldrb.s32 q6, [%[r0], %q[o2]]\n\t"
        "vldrb.s32 q7, [%[w], #-28]\n\t"
        "vmul.i32 q6, q6, q7\n\t"
        "vadd.i32 q5, q5, q6\n\t"
        "vldrb.s32 q6, [%[r1], %q[o0]]\n\t"
        "vldrb.s32 q7, [%[w], #-24]\n\t"
        "vmul.i32 q6, q6, q7\n\t"
        "vadd.i32 q5, q5, q6\n\t"
        "vldrb.s32 q6, [%[r1], %q[o1]]\n\t"
        "vldrb.s32 q7, [%[w], #-20]\n\t"
        "vmul.i32 q6, q6, q7\n\t"
        "vadd.i32 q5, q5, q6\n\t"
        "vldrb.s32 q6, [%[r1], %q[o2]]\n\t"
        "vldrb.s32 q7, [%[w], #-16]\n\t"
        "vmul.i32 q6, q6, q7\n\t"
        "vadd.i32 q5, q5, q6\n\t"
        "vldrb.s32 q6, [%[r2], %q[o0]]\n\t"
        "vldrb.s32 q7, [%[w], #-12]\n\t"
        "vmul.i32 q6, q6, q7\n\t"
        "vadd.i32 q5, q5, q6\n\t"
        "vldrb.s32 q6, [%[r2], %q[o1]]\n\t"
        "vldrb.s32 q7, [%[w], #-8]\n\t"
        "vmul.i32 q6, q6, q7\n\t"
        "vadd.i32 q5, q5, q6\n\t"
        "vldrb.s32 q6, [%[r2], %q[o2]]\n\t"
        "vldrb.s32 q7, [%[w], #-4]\n\t"
        "vmul.i32 q6, q6, q7\n\t"
        "vadd.i32 q5, q5, q6\n\t"
        "vldrw.32 q6, [%[rec], #-32]\n\t"  /* left */
        "vshl.s32 q5, q5, q6\n\t"
        "vldrw.32 q6, [%[rec], #-48]\n\t"  /* M */
        "vqrdmulh.s32 q5, q5, q6\n\t"
        "vldrw.32 q7, [%[rec], #-16]\n\t"  /* -right */
        "vand q6, q5, q7\n\t"
        "vshr.s32 q6, q6, #31\n\t"
        "vqadd.s32 q5, q5, q6\n\t"
        "vrshl.s32 q5, q5, q7\n\t"
        "vadd.i32 q5, q5, %[zp]\n\t"
        "vmax.s32 q5, q5, %q[lo]\n\t"
        "vmin.s32 q5, q5, %q[hi]\n\t"
        "vstrb.32 q5, [%[out]], #4\n\t"
        "adds %[r0], %[r0], #4\n\t"
        "adds %[r1], %[r1], #4\n\t"
        "adds %[r2], %[r2], #4\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b"
        : [r0] "+r"(r0), [r1] "+r"(r1), [r2] "+r"(r2), [w] "+l"(wq), [rec] "+r"(rec), [out] "+l"(out),
          [n] "+r"(groups)
        : [o0] "w"(off0), [o1] "w"(off1), [o2] "w"(off2), [lo] "w"(lo), [hi] "w"(hi), [zp] "r"(zp)
        : "d10", "d11", "d12", "d13", "d14", "d15", "cc", "memory");
}

/* 3x3, stride_w 1 (stride 2: lanes_dw_3x3_pair with stride2), C a multiple of 4, from the ring stored by channel
 * group ([C / 4][cols][4] per row: 4 channels of column c at c * 4 within their group's block of `gstride` = cols * 4 bytes), so
 * that the 4 columns of a pixel pair are at the immediate offsets 0, 4, 8, 12 of one pointer per window row. Two
 * outputs A (column col) and B (col + 1): per window row, 4 VLDRB.S32 of the columns, each column shared by A's tap kx
 * and B's tap kx - 1, 3 of the weights and 6 VMUL + VADD: 19 instructions for 6 MACs x 4 lanes (the single path: 12).
 * Then the shared record loads and the requantization of both: 89 instructions per 2 x 4 outputs with the loop
 * (single: 55). */
#define EDGEC_DW_ROW_PAIR(r, w0, w1, w2)                                                                              \
    "vldrb.s32 q5, [%[" r "]]\n\t"                                                                                 \
    "vldrb.s32 q6, [%[w], #" w0 "]\n\t"                                                                            \
    "vmul.i32 q7, q5, q6\n\t"                                                                                      \
    "vadd.i32 q3, q3, q7\n\t"                                                                                      \
    "vldrb.s32 q5, [%[" r "], #4]\n\t"                                                                             \
    "vmul.i32 q7, q5, q6\n\t"                                                                                      \
    "vadd.i32 q4, q4, q7\n\t"                                                                                      \
    "vldrb.s32 q6, [%[w], #" w1 "]\n\t"                                                                            \
    "vmul.i32 q7, q5, q6\n\t"                                                                                      \
    "vadd.i32 q3, q3, q7\n\t"                                                                                      \
    "vldrb.s32 q5, [%[" r "], #8]\n\t"                                                                             \
    "vmul.i32 q7, q5, q6\n\t"                                                                                      \
    "vadd.i32 q4, q4, q7\n\t"                                                                                      \
    "vldrb.s32 q6, [%[w], #" w2 "]\n\t"                                                                            \
    "vmul.i32 q7, q5, q6\n\t"                                                                                      \
    "vadd.i32 q3, q3, q7\n\t"                                                                                      \
    "vldrb.s32 q5, [%[" r "], #12]\n\t"                                                                            \
    "vmul.i32 q7, q5, q6\n\t"                                                                                      \
    "vadd.i32 q4, q4, q7\n\t"
/* stride 2: B's columns at 8, 12, 16; each weight load serves A's tap and B's (no column is loaded once for both) */
#define EDGEC_DW_ROW_PAIR_S2(r, w0, w1, w2)                                                                           \
    "vldrb.s32 q6, [%[w], #" w0 "]\n\t"                                                                            \
    "vldrb.s32 q5, [%[" r "]]\n\t"                                                                                 \
    "vmul.i32 q7, q5, q6\n\t"                                                                                      \
    "vadd.i32 q3, q3, q7\n\t"                                                                                      \
    "vldrb.s32 q5, [%[" r "], #8]\n\t"                                                                             \
    "vmul.i32 q7, q5, q6\n\t"                                                                                      \
    "vadd.i32 q4, q4, q7\n\t"                                                                                      \
    "vldrb.s32 q6, [%[w], #" w1 "]\n\t"                                                                            \
    "vldrb.s32 q5, [%[" r "], #4]\n\t"                                                                             \
    "vmul.i32 q7, q5, q6\n\t"                                                                                      \
    "vadd.i32 q3, q3, q7\n\t"                                                                                      \
    "vldrb.s32 q5, [%[" r "], #12]\n\t"                                                                            \
    "vmul.i32 q7, q5, q6\n\t"                                                                                      \
    "vadd.i32 q4, q4, q7\n\t"                                                                                      \
    "vldrb.s32 q6, [%[w], #" w2 "]\n\t"                                                                            \
    "vldrb.s32 q5, [%[" r "], #8]\n\t"                                                                             \
    "vmul.i32 q7, q5, q6\n\t"                                                                                      \
    "vadd.i32 q3, q3, q7\n\t"                                                                                      \
    "vldrb.s32 q5, [%[" r "], #16]\n\t"                                                                            \
    "vmul.i32 q7, q5, q6\n\t"                                                                                      \
    "vadd.i32 q4, q4, q7\n\t"
/* TFLite's MBQM of accumulator q (the record's -right in q6, q7 free), + zp, the clamp */
#define EDGEC_DW_FINISH(q)                                                                                            \
    "vand q7, " q ", q6\n\t"                                                                                       \
    "vshr.s32 q7, q7, #31\n\t"                                                                                     \
    "vqadd.s32 " q ", " q ", q7\n\t"                                                                               \
    "vrshl.s32 " q ", " q ", q6\n\t"                                                                               \
    "vadd.i32 " q ", " q ", %q[zp]\n\t"                                                                             \
    "vmax.s32 " q ", " q ", %q[lo]\n\t"                                                                            \
    "vmin.s32 " q ", " q ", %q[hi]\n\t"

/* the same when every channel shifts right only (`plain`): no VAND (the -1 goes to every negative lane) */
#define EDGEC_DW_FINISH_PLAIN(q)                                                                                      \
    "vshr.s32 q7, " q ", #31\n\t"                                                                                   \
    "vqadd.s32 " q ", " q ", q7\n\t"                                                                               \
    "vrshl.s32 " q ", " q ", q6\n\t"                                                                               \
    "vadd.i32 " q ", " q ", %q[zp]\n\t"                                                                             \
    "vmax.s32 " q ", " q ", %q[lo]\n\t"                                                                            \
    "vmin.s32 " q ", " q ", %q[hi]\n\t"
/* the left shift of one sum (lanes_dw_3x3_one) */
#define EDGEC_DW_LEFT1                                                                                                \
    "vldrw.32 q7, [%[rec], #-32]\n\t"                                                                               \
    "vshl.s32 q3, q3, q7\n\t"
/* the left shift of the pair's two sums, or nothing (`plain`) */
#define EDGEC_DW_LEFT2                                                                                                \
    "vldrw.32 q7, [%[rec], #-32]\n\t"                                                                               \
    "vshl.s32 q3, q3, q7\n\t"                                                                                      \
    "vshl.s32 q4, q4, q7\n\t"

/* the pixel-pair loop of lanes_dw_3x3_pair (ROW = EDGEC_DW_ROW_PAIR, or EDGEC_DW_ROW_PAIR_S2 at stride 2): LEFT the
 * left shift or nothing, FIN the requantization finish */
#define EDGEC_DW_PAIR_ASM(ROW, LEFT, FIN) \
    __asm__ volatile( \
        "1:\n\t" \
        "vldrw.32 q3, [%[rec]], #64\n\t" \
        "vmov q4, q3\n\t" \
        "adds %[w], %[w], #36\n\t" \
        ROW("r0", "-36", "-32", "-28") \
        ROW("r1", "-24", "-20", "-16") \
        ROW("r2", "-12", "-8", "-4") \
        LEFT \
        "vldrw.32 q7, [%[rec], #-48]\n\t"  /* M */ \
        "vqrdmulh.s32 q3, q3, q7\n\t" \
        "vqrdmulh.s32 q4, q4, q7\n\t" \
        "vldrw.32 q6, [%[rec], #-16]\n\t"  /* -right */ \
        FIN("q3") \
        FIN("q4") \
        "vstrb.32 q3, [%[oa]], #4\n\t" \
        "vstrb.32 q4, [%[ob]], #4\n\t" \
        "add %[r0], %[r0], %[gs]\n\t" \
        "add %[r1], %[r1], %[gs]\n\t" \
        "add %[r2], %[r2], %[gs]\n\t" \
        "subs %[n], %[n], #1\n\t" \
        "bne 1b" \
        : [r0] "+l"(r0), [r1] "+l"(r1), [r2] "+l"(r2), [w] "+l"(wq), [rec] "+r"(rec), [oa] "+l"(out_a), \
          [ob] "+l"(out_b), [n] "+r"(groups) \
        : [gs] "r"(gstride), [lo] "w"(lo), [hi] "w"(hi), [zp] "w"(zp) \
        : "d6", "d7", "d8", "d9", "d10", "d11", "d12", "d13", "d14", "d15", "cc", "memory")
/* stride2: B's window 2 columns right of A's (stride_w 2), else 1 */
static inline __attribute__((always_inline)) void lanes_dw_3x3_pair(const int8_t *r0, const int8_t *r1,
                                                                    const int8_t *r2, int32_t gstride,
                                                                    const int8_t *wq, const int32_t *rec,
                                                                    int8_t *out_a, int8_t *out_b, int32_t groups,
                                                                    int32x4_t zp, int32x4_t lo, int32x4_t hi,
                                                                    const int plain, const int stride2) {
    if (groups <= 0) return;
    if (stride2 && plain)
        EDGEC_DW_PAIR_ASM(EDGEC_DW_ROW_PAIR_S2, , EDGEC_DW_FINISH_PLAIN);
    else if (stride2)
        EDGEC_DW_PAIR_ASM(EDGEC_DW_ROW_PAIR_S2, EDGEC_DW_LEFT2, EDGEC_DW_FINISH);
    else if (plain)
        EDGEC_DW_PAIR_ASM(EDGEC_DW_ROW_PAIR, , EDGEC_DW_FINISH_PLAIN);
    else
        EDGEC_DW_PAIR_ASM(EDGEC_DW_ROW_PAIR, EDGEC_DW_LEFT2, EDGEC_DW_FINISH);
}

/* the same layout, one output (the last of an odd row): per window row 3 columns at 0, 4, 8 */
#define EDGEC_DW_ROW_ONE(r, w0, w1, w2)                                                                               \
    "vldrb.s32 q5, [%[" r "]]\n\t"                                                                                 \
    "vldrb.s32 q6, [%[w], #" w0 "]\n\t"                                                                            \
    "vmul.i32 q7, q5, q6\n\t"                                                                                      \
    "vadd.i32 q3, q3, q7\n\t"                                                                                      \
    "vldrb.s32 q5, [%[" r "], #4]\n\t"                                                                             \
    "vldrb.s32 q6, [%[w], #" w1 "]\n\t"                                                                            \
    "vmul.i32 q7, q5, q6\n\t"                                                                                      \
    "vadd.i32 q3, q3, q7\n\t"                                                                                      \
    "vldrb.s32 q5, [%[" r "], #8]\n\t"                                                                             \
    "vldrb.s32 q6, [%[w], #" w2 "]\n\t"                                                                            \
    "vmul.i32 q7, q5, q6\n\t"                                                                                      \
    "vadd.i32 q3, q3, q7\n\t"

#define DW_ONE_ASM(LEFT, FIN) \
    __asm__ volatile( \
        "1:\n\t" \
        "vldrw.32 q3, [%[rec]], #64\n\t" \
        "adds %[w], %[w], #36\n\t" \
        EDGEC_DW_ROW_ONE("r0", "-36", "-32", "-28") \
        EDGEC_DW_ROW_ONE("r1", "-24", "-20", "-16") \
        EDGEC_DW_ROW_ONE("r2", "-12", "-8", "-4") \
        LEFT \
        "vldrw.32 q7, [%[rec], #-48]\n\t" \
        "vqrdmulh.s32 q3, q3, q7\n\t" \
        "vldrw.32 q6, [%[rec], #-16]\n\t" \
        FIN("q3") \
        "vstrb.32 q3, [%[out]], #4\n\t" \
        "add %[r0], %[r0], %[gs]\n\t" \
        "add %[r1], %[r1], %[gs]\n\t" \
        "add %[r2], %[r2], %[gs]\n\t" \
        "subs %[n], %[n], #1\n\t" \
        "bne 1b" \
        : [r0] "+l"(r0), [r1] "+l"(r1), [r2] "+l"(r2), [w] "+l"(wq), [rec] "+r"(rec), [out] "+l"(out), \
          [n] "+r"(groups) \
        : [gs] "r"(gstride), [lo] "w"(lo), [hi] "w"(hi), [zp] "w"(zp) \
        : "d6", "d7", "d8", "d9", "d10", "d11", "d12", "d13", "d14", "d15", "cc", "memory")
static inline __attribute__((always_inline)) void lanes_dw_3x3_one(const int8_t *r0, const int8_t *r1,
                                                                   const int8_t *r2, int32_t gstride,
                                                                   const int8_t *wq, const int32_t *rec,
                                                                   int8_t *out, int32_t groups, int32x4_t zp,
                                                                   int32x4_t lo, int32x4_t hi, const int plain) {
    if (groups <= 0) return;
    if (plain)
        DW_ONE_ASM(, EDGEC_DW_FINISH_PLAIN);
    else
        DW_ONE_ASM(EDGEC_DW_LEFT1, EDGEC_DW_FINISH);
#undef DW_ONE_ASM
}

static inline __attribute__((always_inline)) void lanes_dw_run(const edgec_depthwise_conv2d_s8_params *p,
                                                               const int32_t *bias_folded, const int32_t *rec,
                                                               const int8_t *weights_r,
                                                               const int8_t *input, int8_t *output, int8_t *ring,
                                                               const int onnx) {
    const int32_t C = p->in_c, in_w = p->in_w, k_h = p->k_h, taps = p->k_h * p->k_w;
    const int32_t cols = (p->out_w - 1) * p->stride_w + p->k_w, row_bytes = cols * C, full = C / 4, rest = C % 4;
    const edgec_mve_out_t st = {p->output_offset, p->act_min, p->act_max, p->rounding};
    /* the input columns a ring row holds (the rest of it is the zero-point border, written once below) */
    const int32_t x_end = edgec_min(in_w, cols - p->pad_left), copy = x_end > 0 ? x_end * C : 0;
    /* 3x3, stride_w 1 or 2, C % 4 == 0, TFLite's rounding: pixel pairs from the ring stored by channel group */
    const int paired = p->k_h == 3 && p->k_w == 3 && rec != NULL && !onnx && p->stride_w <= 2 && rest == 0;
    const int32_t gstride = cols * 4;
    /* every channel shifts right only: the pair loops' shorter requantization (no left shift, no VAND) */
    int plain = paired;
    for (int32_t c = 0; c < C && plain; c++) plain = p->shift[c] < 0;
    int8_t *const zero_row = ring + k_h * row_bytes;
    const mve_pred16_t pr = vctp32q((uint32_t)rest);
    const int8x16_t zp = vdupq_n_s8((int8_t)-p->input_offset);
    const int8_t *rows[16];
    /* 3x3: the gathers' offsets of the 3 taps of a row (channels 0..3 of columns 0, 1, 2), the clamp */
    const int three = p->k_h == 3 && p->k_w == 3 && rec != NULL;
    const uint32x4_t off0 = vidupq_n_u32(0, 1), off1 = vaddq_n_u32(off0, (uint32_t)C);
    const uint32x4_t off2 = vaddq_n_u32(off1, (uint32_t)C);
    const int32x4_t lo = vdupq_n_s32(st.act_min), hi = vdupq_n_s32(st.act_max), zpv = vdupq_n_s32(st.output_offset);
    /* the same for 16 channels when the 4 groups' blocks are within 255 bytes */
    const int wide_copy = paired && C % 16 == 0 && 3 * gstride + 3 <= 255;
    const uint8x16_t tr_offsets8 = vaddq_u8(vandq_u8(vidupq_n_u8(0, 1), vdupq_n_u8(3)),
                                            vmulq_n_u8(vshrq_n_u8(vidupq_n_u8(0, 1), 2), (uint8_t)gstride));
    /* the paired layout's scatter: channels 0..3 to bytes 0..3, channels 4..7 to the next group's block */
    const uint16x8_t tr_offsets = vaddq_u16(vandq_u16(vidupq_n_u16(0, 1), vdupq_n_u16(3)),
                                            vmulq_n_u16(vshrq_n_u16(vidupq_n_u16(0, 1), 2), (uint16_t)gstride));
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + b * p->in_h * in_w * C;
        int8_t *out = output + b * p->out_h * p->out_w * C;
        const int32_t bytes = (k_h + 1) * row_bytes;
        for (int32_t k = 0; k < bytes; k += 16) vstrbq_p_s8(ring + k, zp, vctp8q((uint32_t)(bytes - k)));
        int32_t next_row = 0; /* the first input row not yet in the ring */
        for (int32_t y = 0; y < p->out_h; y++) {
            const int32_t iy0 = y * p->stride_h - p->pad_top;
            /* every row up to the window's last into its slot (iy mod k_h), before any output of row y is written */
            const int32_t last = edgec_min(iy0 + k_h - 1, p->in_h - 1);
            for (; next_row <= last; next_row++) {
                int8_t *dst = ring + (next_row % k_h) * row_bytes + p->pad_left * C;
                const int8_t *src = in_b + next_row * in_w * C;
                if (paired) { /* column x's channel group g to g * cols * 4 + x * 4 */
                    dst = ring + (next_row % k_h) * row_bytes + p->pad_left * 4;
                    if (wide_copy) { /* 16 channels per scatter (8-bit offsets), C % 16 == 0 */
                        for (int32_t x = 0; x < x_end; x++, src += C, dst += 4) {
                            int8_t *d = dst;
                            for (int32_t k = 0; k < C; k += 16, d += 4 * gstride)
                                vstrbq_scatter_offset_s8(d, tr_offsets8, vldrbq_s8(src + k));
                        }
                        continue;
                    }
                    for (int32_t x = 0; x < x_end; x++, src += C, dst += 4) { /* 8 channels per scatter */
                        int8_t *d = dst;
                        if (C % 8 == 0) {
                            for (int32_t k = 0; k < C; k += 8, d += 2 * gstride)
                                vstrbq_scatter_offset_s16(d, tr_offsets, vldrbq_s16(src + k));
                            continue;
                        }
                        for (int32_t k = 0; k < C; k += 8, d += 2 * gstride) {
                            const mve_pred16_t cp = vctp16q((uint32_t)(C - k));
                            vstrbq_scatter_offset_p_s16(d, tr_offsets, vldrbq_z_s16(src + k, cp), cp);
                        }
                    }
                    continue;
                }
                for (int32_t k = 0; k < copy; k += 16) {
                    const mve_pred16_t cp = vctp8q((uint32_t)(copy - k));
                    vstrbq_p_s8(dst + k, vldrbq_z_s8(src + k, cp), cp);
                }
            }
            for (int32_t ky = 0; ky < k_h; ky++) {
                const int32_t iy = iy0 + ky;
                rows[ky] = iy < 0 || iy >= p->in_h ? zero_row : ring + (iy % k_h) * row_bytes;
            }
            if (paired) {
                int32_t x = 0;
                const int32_t sw = p->stride_w;
                if (sw == 1)
                    for (; x + 2 <= p->out_w; x += 2, out += 2 * C)
                        lanes_dw_3x3_pair(rows[0] + 4 * x, rows[1] + 4 * x, rows[2] + 4 * x, gstride, weights_r,
                                          rec, out, out + C, full, zpv, lo, hi, plain, 0);
                else
                    for (; x + 2 <= p->out_w; x += 2, out += 2 * C)
                        lanes_dw_3x3_pair(rows[0] + 8 * x, rows[1] + 8 * x, rows[2] + 8 * x, gstride, weights_r,
                                          rec, out, out + C, full, zpv, lo, hi, plain, 1);
                if (x < p->out_w) {
                    const int32_t at = 4 * sw * x;
                    lanes_dw_3x3_one(rows[0] + at, rows[1] + at, rows[2] + at, gstride, weights_r, rec, out, full,
                                     zpv, lo, hi, plain);
                    out += C;
                }
                continue;
            }
            for (int32_t x = 0; x < p->out_w; x++, out += C) {
                const int32_t col = x * p->stride_w;
                const int8_t *wq = weights_r;
                int32_t c = 0;
                if (three && !onnx) {
                    lanes_dw_3x3(rows[0] + col * C, rows[1] + col * C, rows[2] + col * C, wq, rec, out, full, off0,
                                 off1, off2, st.output_offset, lo, hi);
                    c = 4 * full, wq += 4 * taps * full;
                } else {
                    for (int32_t g = 0; g < full; g++, c += 4, wq += 4 * taps)
                        lanes_dw_group(p, rows, col, wq, c, out, st, bias_folded, pr, 0, onnx);
                }
                if (rest) lanes_dw_group(p, rows, col, wq, c, out, st, bias_folded, pr, 1, onnx);
            }
        }
    }
}

void edgec_depthwise_conv2d_s8_lanes_mve(const edgec_depthwise_conv2d_s8_params *p, const int32_t *bias_folded,
                                         const int32_t *rec, const int8_t *weights_r, const int8_t *input,
                                         int8_t *output, int8_t *ring) {
    if (p->rounding)
        lanes_dw_run(p, bias_folded, rec, weights_r, input, output, ring, 1);
    else
        lanes_dw_run(p, bias_folded, rec, weights_r, input, output, ring, 0);
}

void edgec_depthwise_conv2d_s8_mve_records(const edgec_depthwise_conv2d_s8_params *p, const int32_t *bias_folded,
                                           int32_t *rec) {
    const int32_t C = p->out_c;
    for (int32_t g = 0; g < (C + 3) / 4; g++)
        for (int32_t i = 0; i < 4; i++) {
            const int32_t c = 4 * g + i, live = c < C;
            rec[16 * g + i] = live ? bias_folded[c] : 0;
            rec[16 * g + 4 + i] = live ? p->multiplier[c] : 0;
            rec[16 * g + 8 + i] = live ? edgec_max(p->shift[c], 0) : 0;
            rec[16 * g + 12 + i] = live ? edgec_min(p->shift[c], 0) : 0;
        }
}
