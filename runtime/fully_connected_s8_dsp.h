#ifndef EDGEC_FULLY_CONNECTED_S8_DSP_H
#define EDGEC_FULLY_CONNECTED_S8_DSP_H
#include <stdint.h>

#include "fully_connected_s8.h"

/* int8 FULLY_CONNECTED with the Arm DSP extension (Cortex-M4, M7, M33: SXTB16, SXTAB16, SMLAD), the same
 * parameters and the same bytes as the portable edgec_fully_connected_s8. Per batch row, 4 output rows at a time:
 * 4 inputs are one word, widened to two int16 pairs with the input offset added (shared by the 4 rows), each row's
 * 4 weights one word split the same way, two SMLAD per row (27 instructions per 16 MACs; the _w16 variant below,
 * with int16 weights, 32 per 32). Depth and output rows need not be multiples of 4.
 * Requantization is the portable kernel's (edgec_requantize, both rounding modes, per-tensor or per-channel).
 * No scratch; input and output must not overlap (as for the portable kernel). */
/* `stage`: NULL, or the compile-time output stage of runtime/edgec_dsp_out.h, EDGEC_DSP_OUT_WORDS int32 per output
 * row (its start the bias) */
void edgec_fully_connected_s8_dsp(const edgec_fully_connected_s8_params *p, const int32_t *stage,
                                  const int8_t *input, int8_t *output);

/* The same with the stage (never NULL here) and a second, int16 copy of the first 4 floor(out_c / 4) rows'
 * weights: block k of 4 rows, group g of 4 inputs holds the 16 int16 (w[r][4g], w[r][4g+2], w[r][4g+1],
 * w[r][4g+3]) for r = 4k .. 4k + 3 at (k * floor(depth / 4) + g) * 16 (toolchain/ops/fully_connected.py,
 * dsp_weights16): per 4 inputs x 4 rows one LDR and 2 SXTB16 of the inputs, 4 LDRD, 8 SMLAD (no weight SXTB16).
 * The depth % 4 last inputs and the out_c % 4 last rows take the int8 weights (p->weights). */
void edgec_fully_connected_s8_dsp_w16(const edgec_fully_connected_s8_params *p, const int32_t *stage,
                                      const int16_t *weights16, const int8_t *input, int8_t *output);

#endif
