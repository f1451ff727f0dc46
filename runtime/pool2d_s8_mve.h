#ifndef EDGEC_POOL2D_S8_MVE_H
#define EDGEC_POOL2D_S8_MVE_H
#include <stdint.h>

#include "edgec_region.h"
#include "pool2d_s8.h"

/* int8 AVERAGE_POOL_2D with Helium (MVE, Cortex-M55), the same bytes as the portable edgec_avg_pool2d_s8 (and its
 * region form) for windows of at most EDGEC_AVG_POOL_MVE_MAX_TAPS taps. Channel-last: per output pixel, 16
 * channels at a time are summed over the window as four int32x4 vectors (VLDRB.S32 and VADD per 4 channels and
 * tap), then divided by the tap count with one VMULH.U32 by a reciprocal computed once per pixel (exact, below),
 * rounded half away from zero as TFLite, clamped and stored by VSTRB.32; a channel count not a multiple of 4 ends
 * with VCTP-predicated loads and stores. No scratch; input and output must not overlap. */
#define EDGEC_AVG_POOL_MVE_MAX_TAPS 4096

void edgec_avg_pool2d_s8_mve(const edgec_pool2d_s8_params *p, const int8_t *input, int8_t *output);
void edgec_avg_pool2d_s8_mve_region(const edgec_pool2d_s8_params *p, const edgec_region *r, const int8_t *input,
                                    int8_t *output);

/* int8 MAX_POOL_2D with Helium, the same bytes as edgec_max_pool2d_s8 (and its region form): per output pixel, 16
 * channels per vector, one VLDRB.8 and one VMAX.S8 per tap (a window whose rows are adjacent in memory, global
 * pooling, is one run of taps), then VMAX/VMIN by the clamp and one VSTRB.8; a channel count not a multiple of 16
 * ends with a VCTP.8-predicated step (no byte past the pixel is read or written). No scratch; not in place. */
void edgec_max_pool2d_s8_mve(const edgec_pool2d_s8_params *p, const int8_t *input, int8_t *output);
void edgec_max_pool2d_s8_mve_region(const edgec_pool2d_s8_params *p, const edgec_region *r, const int8_t *input,
                                    int8_t *output);

#endif
