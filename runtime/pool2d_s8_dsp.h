#ifndef EDGEC_POOL2D_S8_DSP_H
#define EDGEC_POOL2D_S8_DSP_H
#include <stdint.h>

#include "edgec_region.h"
#include "pool2d_s8.h"

/* int8 average and max pooling with the DSP extension (Cortex-M4, M7, M33, M55), the same bytes as
 * edgec_avg_pool2d_s8 / edgec_max_pool2d_s8, 4 channels per 32-bit word.
 *
 * Average: at most EDGEC_AVG_POOL_DSP_MAX_TAPS taps per window (the 16-bit lane sums cannot overflow). `recip`:
 * 0, or ceil(2^32 / (k_h * k_w)) when the code generator proved at compile time that the reciprocal multiply is
 * exact for every count of taps the layer's windows can have (toolchain/ops/pool2d.py, dsp_avg_reciprocal); with
 * 0 the kernel divides as TFLite does. Max: any window. Neither runs in place (as the portable kernels). */
#define EDGEC_AVG_POOL_DSP_MAX_TAPS 256

void edgec_avg_pool2d_s8_dsp(const edgec_pool2d_s8_params *p, uint32_t recip, const int8_t *input, int8_t *output);
void edgec_max_pool2d_s8_dsp(const edgec_pool2d_s8_params *p, const int8_t *input, int8_t *output);
/* the same over one region of the layer (patch-based inference, edgec_region.h) */
void edgec_avg_pool2d_s8_dsp_region(const edgec_pool2d_s8_params *p, uint32_t recip, const edgec_region *r,
                                    const int8_t *input, int8_t *output);
void edgec_max_pool2d_s8_dsp_region(const edgec_pool2d_s8_params *p, const edgec_region *r, const int8_t *input,
                                    int8_t *output);

#endif
