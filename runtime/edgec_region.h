/* edgec_region.h - a rectangle of a layer computed on its own, for patch-based inference (MCUNetV2).
 *
 * The windowed kernels (conv2d, depthwise_conv2d, avg/max pool2d) take one. Coordinates are rows and columns of
 * the FULL tensors (the layer's params keep the full shapes); the buffers hold dense NHWC windows of them:
 *
 *     computed:       output rows [out_y0, out_y0 + out_h), columns [out_x0, out_x0 + out_w)
 *     input buffer:   holds input  rows [in_y0, in_y0 + in_h), columns [in_x0, in_x0 + in_w)
 *     output buffer:  holds output rows [ob_y0, ob_y0 + ob_h), columns [ob_x0, ob_x0 + ob_w)
 *
 * Whether a tap is padding is decided against the full input's bounds, never the window's: at an inner patch
 * border the halo rows hold real data, so every output element reads the same inputs with the same integer
 * arithmetic as the whole-layer call (bit-exact). The compiler guarantees that every in-bounds tap of a computed
 * output lies inside the input window. The whole layer is the region {0, 0, out_h, out_w, 0, 0, in_h, in_w,
 * 0, 0, out_h, out_w}.
 */
#ifndef EDGEC_REGION_H
#define EDGEC_REGION_H

#include <stdint.h>

typedef struct {
    int32_t out_y0, out_x0, out_h, out_w;
    int32_t in_y0, in_x0, in_h, in_w;
    int32_t ob_y0, ob_x0, ob_h, ob_w;
} edgec_region;

static inline edgec_region edgec_whole_region(int32_t in_h, int32_t in_w, int32_t out_h, int32_t out_w) {
    edgec_region r;
    r.out_y0 = 0; r.out_x0 = 0; r.out_h = out_h; r.out_w = out_w;
    r.in_y0 = 0; r.in_x0 = 0; r.in_h = in_h; r.in_w = in_w;
    r.ob_y0 = 0; r.ob_x0 = 0; r.ob_h = out_h; r.ob_w = out_w;
    return r;
}

/* The taps j in [0, k) of a window starting at `first` with step `dilation` that land in [lo, hi): j in
 * [*begin, *end). Computed once per output pixel, it replaces a bounds test per tap (the padding rule).
 * ceil(a / d) for d > 0 is written with C's truncating division: a >= 0 rounds up by adding d - 1, a < 0 already
 * truncates upward. */
static inline int32_t edgec_ceil_div(int32_t a, int32_t d) { return a >= 0 ? (a + d - 1) / d : -((-a) / d); }

static inline void edgec_tap_range(int32_t first, int32_t lo, int32_t hi, int32_t k, int32_t dilation,
                                   int32_t *begin, int32_t *end) {
    const int32_t b = edgec_ceil_div(lo - first, dilation), e = edgec_ceil_div(hi - first, dilation);
    *begin = b > 0 ? b : 0;
    *end = e < k ? e : k;
}

#endif
