#include "conv2d_s8_backward.h"
#include "edgec_train.h"

/* With g_acc[p,o] = (mask(p,o) ? g_y[p,o] : 0) * acc_scale[o] (the gradient of the int32 accumulator, real units):
 *   g_x[n,iy,ix,i] = inv_sx * sum_{ky asc, kx asc, o asc in i's group} (float)w[o,ky,kx,i-base] * g_acc[n,oy,ox,o]
 *                    over the taps where iy = oy*stride_h - pad_top + ky*dilation_h (and x) for an output pixel
 *   G[o,ky,kx,i]   = sum_{p asc} g_acc[p,o] * (float)(x[n,iy,ix,base+i] - zp_x)   (taps inside the input)
 *   w[o,ky,kx,i]   = update(w, G * coef_w[o])  for o asc, ky asc, kx asc, i < weight_channels asc
 *   bias[o]        = update_bias(bias, (sum_{p asc} g_acc[p,o]) * coef_b[o], bias_max[o])
 * With momentum or fp32 shadow weights (the state pointers set) `update` is edgec_update_weight and the bias's
 * step goes through edgec_momentum first; the state of the k-th updated weight (in the order above, frozen
 * channels' slots included) is velocity_w[k] / shadow[k]. (edgec_train.h states the float operations.)
 * With weights_frozen set, w[o,ky,kx,i] is read from the trained slice (i < weight_channels, row stride
 * weight_channels) or the frozen rest (row stride in_c/groups - weight_channels): the same values, the same sums.
 * With saved_c set, the saved input holds only the first saved_c channels of each pixel (the trained ones).
 * Every sum is sequential in float32 from 0.0f, in that order, with no fused multiply-add (the numpy reference in
 * toolchain/ops/conv2d.py gives the same bits). g_x uses the weights before the update (the update comes last).
 * A term whose g_acc is 0 (masked) or whose tap falls outside the input is skipped: it would add a zero to a sum
 * that started at +0.0 and so is never -0.0, which changes no bit.
 *
 * The loops keep those orders and take the work out of the inner loops (docs/training.md, "Backward kernels"):
 * g_x  scatters from the output side, 4 output pixels x 4 input channels per tile: per output channel j, 4 g_acc
 *      (precomputed for the 4 pixels in `scratch`), 4 weights converted once, 16 multiply-adds into 16 registers.
 *      Each input element still receives its terms tap by tap in ascending (ky, kx) and, within a tap, o
 *      ascending: output rows, and 4-pixel blocks within a row, are visited in descending order (a larger output
 *      coordinate reads an input through a smaller tap) and the taps of a block in ascending order. 52
 *      instructions per 16 MACs in the inner loop, ~3.2-4 per MAC with the rest on Cortex-M7 (was ~9-12).
 * G    per output channel o: g_acc[., o] once into `scratch` (one float per output pixel), then per tap and
 *      block of 16 (then 4, then 1) trained input channels 16 sums in registers over the tap's valid output
 *      pixels (their range computed once per tap: no bound test per pixel), ascending, skipping g_acc = 0:
 *      per MAC one int8 load, the zero-point add and conversion, a multiply and an add: ~6.6 instructions per
 *      MAC on Cortex-M7 when g_acc is dense, ~4 per 16 MACs for a pixel whose g_acc is 0 (was ~37 either way);
 *      the updates follow each block, in the order above.
 * scratch: max(4 out_c floats when grad_in is not NULL, batches out_h out_w floats when weights are trained).
 * Per updated weight ~8 instructions (nearest) or ~16 (stochastic). */

/* the output coordinates o in [0, out) whose input o*stride - pad + k*dilation is inside [0, in): [*lo, *hi) */
static void valid_outputs(int32_t out, int32_t in, int32_t stride, int32_t pad, int32_t offset, int32_t *lo,
                          int32_t *hi) {
    int32_t a = 0, b = out;
    while (a < b && a * stride - pad + offset < 0) a++;
    while (b > a && (b - 1) * stride - pad + offset >= in) b--;
    *lo = a;
    *hi = b;
}

static float g_acc_of(const edgec_conv2d_s8_backward_params *p, const float *grad_out, const uint8_t *mask,
                      int32_t e, int32_t o) {
    return (edgec_mask_bit(mask, e) ? grad_out[e] : 0.0f) * p->acc_scale[o];
}

/* ---- g_x ---- */

#define EDGEC_TILE_LOAD(a)                                                                                           \
    float s##a##0 = t##a[0], s##a##1 = t##a[c1], s##a##2 = t##a[c2], s##a##3 = t##a[c3];
#define EDGEC_TILE_MAC(a)                                                                                            \
    {                                                                                                                \
        const float g = gr[a];                                                                                       \
        s##a##0 += w0 * g;                                                                                           \
        s##a##1 += w1 * g;                                                                                           \
        s##a##2 += w2 * g;                                                                                           \
        s##a##3 += w3 * g;                                                                                           \
    }
#define EDGEC_TILE_STORE(a) t##a[0] = s##a##0, t##a[c1] = s##a##1, t##a[c2] = s##a##2, t##a[c3] = s##a##3;

/* t0..t3: the g_x of the 4 pixels' input channels i0.. (or a sink); c1..c3: the offsets of channels 1-3 of the
 * tile (clamped into the group: a repeated channel computes the same sum twice and stores it twice); gr: the 4
 * pixels' g_acc interleaved [j][4]; w: the weights of output channel j = 0 of the group at this tap and i0. */
static void input_tile(float *t0, float *t1, float *t2, float *t3, int32_t c1, int32_t c2, int32_t c3,
                       const float *gr, const int8_t *wt, int32_t ocg, int32_t o_stride) {
    EDGEC_TILE_LOAD(0)
    EDGEC_TILE_LOAD(1)
    EDGEC_TILE_LOAD(2)
    EDGEC_TILE_LOAD(3)
    for (int32_t j = 0; j < ocg; j++, gr += 4) {
        const int8_t *w = wt + j * o_stride;
        const float w0 = (float)w[0], w1 = (float)w[c1], w2 = (float)w[c2], w3 = (float)w[c3];
        EDGEC_TILE_MAC(0)
        EDGEC_TILE_MAC(1)
        EDGEC_TILE_MAC(2)
        EDGEC_TILE_MAC(3)
    }
    EDGEC_TILE_STORE(0)
    EDGEC_TILE_STORE(1)
    EDGEC_TILE_STORE(2)
    EDGEC_TILE_STORE(3)
}

static void input_grad(const edgec_conv2d_s8_backward_params *p, const float *grad_out, const uint8_t *mask,
                       float *grad_in, float *ga4) {
    const int32_t icg = p->in_c / p->groups, ocg = p->out_c / p->groups;
    const int32_t split = p->weights_frozen ? p->weight_channels : icg; /* channels in p->weights */
    const int32_t total = p->batches * p->in_h * p->in_w * p->in_c;
    float sink[4] = {0.0f, 0.0f, 0.0f, 0.0f}; /* the target of a tile row whose tap falls outside the input */
    for (int32_t k = 0; k < total; k++) grad_in[k] = 0.0f;
    for (int32_t n = 0; n < p->batches; n++) {
        for (int32_t oy = p->out_h - 1; oy >= 0; oy--) {
            for (int32_t ox0 = ((p->out_w - 1) / 4) * 4; ox0 >= 0; ox0 -= 4) {
                const int32_t count = p->out_w - ox0 < 4 ? p->out_w - ox0 : 4;
                /* g_acc of the block's pixels, interleaved: ga4[o * 4 + a] (0 past the row's end) */
                for (int32_t a = 0; a < 4; a++) {
                    const int32_t e0 = ((n * p->out_h + oy) * p->out_w + ox0 + a) * p->out_c;
                    for (int32_t o = 0; o < p->out_c; o++) {
                        ga4[o * 4 + a] = a < count ? g_acc_of(p, grad_out, mask, e0 + o, o) : 0.0f;
                    }
                }
                for (int32_t ky = 0; ky < p->k_h; ky++) {
                    const int32_t iy = oy * p->stride_h - p->pad_top + ky * p->dilation_h;
                    if (iy < 0 || iy >= p->in_h) continue;
                    for (int32_t kx = 0; kx < p->k_w; kx++) {
                        float *row[4]; /* the input pixel each block pixel reads through this tap, or NULL */
                        int32_t any = 0;
                        for (int32_t a = 0; a < 4; a++) {
                            const int32_t ix = (ox0 + a) * p->stride_w - p->pad_left + kx * p->dilation_w;
                            const int32_t ok = a < count && ix >= 0 && ix < p->in_w;
                            row[a] = ok ? grad_in + ((n * p->in_h + iy) * p->in_w + ix) * p->in_c : NULL;
                            any |= ok;
                        }
                        if (!any) continue;
                        for (int32_t grp = 0; grp < p->groups; grp++) {
                            const float *gr = ga4 + grp * ocg * 4;
                            /* the weights' two sources: channels [0, split) in p->weights, the rest frozen */
                            for (int32_t part = 0; part < 2; part++) {
                                const int32_t ch0 = part ? split : 0, src_c = part ? icg - split : split;
                                const int8_t *src = part ? p->weights_frozen : p->weights;
                                if (src_c <= 0 || !src) continue;
                                const int32_t o_stride = p->k_h * p->k_w * src_c; /* from w[o] to w[o + 1] */
                                const int8_t *wg = src + (grp * ocg * p->k_h + ky) * p->k_w * src_c + kx * src_c;
                                for (int32_t i0 = 0; i0 < src_c; i0 += 4) {
                                    const int32_t last = src_c - 1 - i0; /* the tile's channels: i0 + min(b, last) */
                                    const int32_t c1 = last < 1 ? last : 1, c2 = last < 2 ? last : 2;
                                    const int32_t c3 = last < 3 ? last : 3;
                                    const int32_t ci = grp * icg + ch0 + i0;
                                    input_tile(row[0] ? row[0] + ci : sink, row[1] ? row[1] + ci : sink,
                                               row[2] ? row[2] + ci : sink, row[3] ? row[3] + ci : sink, c1, c2,
                                               c3, gr, wg + i0, ocg, o_stride);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    for (int32_t k = 0; k < total; k++) grad_in[k] = grad_in[k] * p->inv_sx;
}

/* ---- G and the update ---- */

#define EDGEC_X4(M) M(0) M(1) M(2) M(3)
#define EDGEC_X16(M) EDGEC_X4(M) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15)
#define EDGEC_SUM_DECL(b) float a##b = 0.0f;
#define EDGEC_SUM_MAC(b) a##b += g * (float)((int32_t)x[b] + off);
#define EDGEC_SUM_OUT(b) sums[b] = a##b;

/* The tap's G over the output pixels [oy0, oy1) x [ox0, ox1) of batch n for `width` (16, 4 or 1) input channels
 * from x0 (the input element of the first pixel); ga: g_acc[., o] of batch n's pixels. */
#define EDGEC_WEIGHT_SUMS(NAME, WIDTH, DECL, MAC, OUT)                                                               \
    static void NAME(const edgec_conv2d_s8_backward_params *p, const int8_t *x0, const float *ga, int32_t oy0,      \
                     int32_t oy1, int32_t ox0, int32_t ox1, float *sums) {                                          \
        const int32_t x_c = p->saved_c ? p->saved_c : p->in_c; /* channels per pixel of the saved input */          \
        const int32_t off = p->input_offset, x_step = p->stride_w * x_c;                                             \
        const int32_t row_step = p->stride_h * p->in_w * x_c;                                                        \
        DECL                                                                                                         \
        for (int32_t n = 0; n < p->batches; n++) {                                                                   \
            for (int32_t oy = oy0; oy < oy1; oy++) {                                                                 \
                const float *gr = ga + (n * p->out_h + oy) * p->out_w;                                               \
                const int32_t xr = n * p->in_h * p->in_w * x_c + (oy - oy0) * row_step;                              \
                for (int32_t ox = ox0; ox < ox1; ox++) {                                                             \
                    const float g = gr[ox];                                                                          \
                    if (g == 0.0f) continue;                                                                         \
                    const int8_t *x = x0 + xr + (ox - ox0) * x_step;                                                 \
                    MAC                                                                                              \
                }                                                                                                    \
            }                                                                                                        \
        }                                                                                                            \
        OUT                                                                                                          \
    }

EDGEC_WEIGHT_SUMS(weight_sums16, 16, EDGEC_X16(EDGEC_SUM_DECL), EDGEC_X16(EDGEC_SUM_MAC), EDGEC_X16(EDGEC_SUM_OUT))
EDGEC_WEIGHT_SUMS(weight_sums4, 4, EDGEC_X4(EDGEC_SUM_DECL), EDGEC_X4(EDGEC_SUM_MAC), EDGEC_X4(EDGEC_SUM_OUT))
EDGEC_WEIGHT_SUMS(weight_sums1, 1, EDGEC_SUM_DECL(0), EDGEC_SUM_MAC(0), EDGEC_SUM_OUT(0))

/* ---- fp16 storage (edgec_train.h): g_y and g_x as half bits, every sum in float32 ---- */

static float g_acc16_of(const edgec_conv2d_s8_backward_params *p, const uint16_t *grad_out, const uint8_t *mask,
                        int32_t e, int32_t o) {
    return (edgec_mask_bit(mask, e) ? edgec_half_to_float(grad_out[e]) : 0.0f) * p->acc_scale[o];
}

/* g_x gathered per input pixel: its in_c sums in `s` (scratch), taps ascending (those that map to an output pixel),
 * o ascending within a tap, each sum sequential from 0.0f as above; then each sum times inv_sx, rounded to half
 * once. The same terms in the same order as input_grad, so the same float32 values before the store. Per MAC a
 * weight load and conversion, a multiply, and the sum's load, add and store; g_acc once per (pixel, tap, o). */
static void input_grad_f16(const edgec_conv2d_s8_backward_params *p, const uint16_t *grad_out, const uint8_t *mask,
                           uint16_t *grad_in, float *s) {
    const int32_t icg = p->in_c / p->groups, ocg = p->out_c / p->groups;
    const int32_t split = p->weights_frozen ? p->weight_channels : icg; /* channels in p->weights */
    for (int32_t n = 0; n < p->batches; n++) {
        for (int32_t iy = 0; iy < p->in_h; iy++) {
            for (int32_t ix = 0; ix < p->in_w; ix++) {
                for (int32_t i = 0; i < p->in_c; i++) s[i] = 0.0f;
                for (int32_t ky = 0; ky < p->k_h; ky++) {
                    const int32_t oy = edgec_output_of_tap(iy, ky, p->stride_h, p->dilation_h, p->pad_top, p->out_h);
                    if (oy < 0) continue;
                    for (int32_t kx = 0; kx < p->k_w; kx++) {
                        const int32_t ox =
                            edgec_output_of_tap(ix, kx, p->stride_w, p->dilation_w, p->pad_left, p->out_w);
                        if (ox < 0) continue;
                        const int32_t e0 = ((n * p->out_h + oy) * p->out_w + ox) * p->out_c;
                        for (int32_t o = 0; o < p->out_c; o++) {
                            const float g = g_acc16_of(p, grad_out, mask, e0 + o, o);
                            if (g == 0.0f) continue;
                            float *sg = s + (o / ocg) * icg;
                            if (split > 0) {
                                const int8_t *w = p->weights + ((o * p->k_h + ky) * p->k_w + kx) * split;
                                for (int32_t i = 0; i < split; i++) sg[i] += (float)w[i] * g;
                            }
                            if (split < icg && p->weights_frozen) {
                                const int8_t *w = p->weights_frozen + ((o * p->k_h + ky) * p->k_w + kx) * (icg - split);
                                for (int32_t i = split; i < icg; i++) sg[i] += (float)w[i - split] * g;
                            }
                        }
                    }
                }
                uint16_t *gx = grad_in + ((n * p->in_h + iy) * p->in_w + ix) * p->in_c;
                for (int32_t i = 0; i < p->in_c; i++) gx[i] = edgec_float_to_half(s[i] * p->inv_sx);
            }
        }
    }
}

/* ---- G, the updates (g_y in float32 or, grad_half set, fp16) ---- */

/* inlined into both entry points, so the float32 one compiles to the code it had before the fp16 variant (a call
 * kept out of line cost ~5 % more backward instructions on Cortex-M7) */
#if defined(__GNUC__)
#define EDGEC_ALWAYS_INLINE __attribute__((always_inline)) inline
#else
#define EDGEC_ALWAYS_INLINE inline
#endif

static EDGEC_ALWAYS_INLINE void update_params(const edgec_conv2d_s8_backward_params *p, const int8_t *input, const float *grad_out,
                          const uint16_t *grad_half, const uint8_t *mask, int8_t *weights, int32_t *bias,
                          float *scratch, uint32_t *rng) {
    const int32_t icg = p->in_c / p->groups, ocg = p->out_c / p->groups;
    const int32_t wc = p->weight_channels < icg ? p->weight_channels : icg;
    const int32_t pixels = p->batches * p->out_h * p->out_w;
    const int32_t x_c = p->saved_c ? p->saved_c : p->in_c; /* channels per pixel of the saved input */
    if (wc > 0 && weights && input) {
        float *ga = scratch; /* g_acc[., o] over the output pixels */
        for (int32_t o = 0; o < p->out_c; o++) {
            if (p->coef_w[o] == 0.0f) continue; /* frozen channel: no step, no draw */
            if (grad_half) {
                for (int32_t q = 0; q < pixels; q++) ga[q] = g_acc16_of(p, grad_half, mask, q * p->out_c + o, o);
            } else {
                for (int32_t q = 0; q < pixels; q++) ga[q] = g_acc_of(p, grad_out, mask, q * p->out_c + o, o);
            }
            const int32_t base = (o / ocg) * icg;
            for (int32_t ky = 0; ky < p->k_h; ky++) {
                int32_t oy0, oy1;
                valid_outputs(p->out_h, p->in_h, p->stride_h, p->pad_top, ky * p->dilation_h, &oy0, &oy1);
                for (int32_t kx = 0; kx < p->k_w; kx++) {
                    int32_t ox0, ox1;
                    valid_outputs(p->out_w, p->in_w, p->stride_w, p->pad_left, kx * p->dilation_w, &ox0, &ox1);
                    /* the input element of output pixel (0, oy0, ox0) through this tap, channel base */
                    const int32_t empty = oy0 >= oy1 || ox0 >= ox1;
                    const int8_t *x0 = empty ? input
                                             : input
                                                   + ((oy0 * p->stride_h - p->pad_top + ky * p->dilation_h) * p->in_w
                                                      + ox0 * p->stride_w - p->pad_left + kx * p->dilation_w)
                                                         * x_c
                                                   + base;
                    int8_t *w = weights + ((o * p->k_h + ky) * p->k_w + kx) * (p->weights_frozen ? wc : icg);
                    const int32_t k0 = ((o * p->k_h + ky) * p->k_w + kx) * wc; /* the state's index of i = 0 */
                    float sums[16];
                    for (int32_t i = 0; i < wc;) {
                        const int32_t width = wc - i >= 16 ? 16 : (wc - i >= 4 ? 4 : 1);
                        if (empty) {
                            for (int32_t b = 0; b < width; b++) sums[b] = 0.0f;
                        } else if (width == 16) {
                            weight_sums16(p, x0 + i, ga, oy0, oy1, ox0, ox1, sums);
                        } else if (width == 4) {
                            weight_sums4(p, x0 + i, ga, oy0, oy1, ox0, ox1, sums);
                        } else {
                            weight_sums1(p, x0 + i, ga, oy0, oy1, ox0, ox1, sums);
                        }
                        for (int32_t b = 0; b < width; b++, i++) {
                            const float step = sums[b] * p->coef_w[o];
                            const int32_t k = k0 + i;
                            w[i] = edgec_update_weight(w[i], step, p->rounding, p->momentum,
                                                       p->velocity_w ? p->velocity_w + k : NULL,
                                                       p->shadow ? p->shadow + k : NULL, rng);
                        }
                    }
                }
            }
        }
    }
    if (p->train_bias && bias) {
        for (int32_t o = 0; o < p->out_c; o++) {
            if (p->coef_b[o] == 0.0f) continue;
            float acc = 0.0f;
            if (grad_half) {
                for (int32_t q = 0; q < pixels; q++) {
                    const int32_t e = q * p->out_c + o;
                    if (edgec_mask_bit(mask, e)) acc += edgec_half_to_float(grad_half[e]) * p->acc_scale[o];
                }
            } else {
                for (int32_t q = 0; q < pixels; q++) {
                    const int32_t e = q * p->out_c + o;
                    if (edgec_mask_bit(mask, e)) acc += grad_out[e] * p->acc_scale[o];
                }
            }
            float step = acc * p->coef_b[o];
            if (p->velocity_b) step = edgec_momentum(&p->velocity_b[o], p->momentum, step, 1073741824.0f);
            bias[o] = edgec_update_bias(bias[o], step, p->bias_max[o]);
        }
    }
}

void edgec_conv2d_s8_backward(const edgec_conv2d_s8_backward_params *p, const int8_t *input,
                              const float *grad_out, const uint8_t *mask, int8_t *weights, int32_t *bias,
                              float *grad_in, float *scratch, uint32_t *rng) {
    if (grad_in) input_grad(p, grad_out, mask, grad_in, scratch);
    update_params(p, input, grad_out, NULL, mask, weights, bias, scratch, rng);
}

void edgec_conv2d_s8_backward_f16(const edgec_conv2d_s8_backward_params *p, const int8_t *input,
                                  const uint16_t *grad_out, const uint8_t *mask, int8_t *weights, int32_t *bias,
                                  uint16_t *grad_in, float *scratch, uint32_t *rng) {
    if (grad_in) input_grad_f16(p, grad_out, mask, grad_in, scratch);
    update_params(p, input, NULL, grad_out, mask, weights, bias, scratch, rng);
}
