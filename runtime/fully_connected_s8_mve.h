#ifndef EDGEC_FULLY_CONNECTED_S8_MVE_H
#define EDGEC_FULLY_CONNECTED_S8_MVE_H
#include <stdint.h>

#include "edgec_mve.h"
#include "fully_connected_s8.h"

/* int8 FULLY_CONNECTED with Helium (MVE, Cortex-M55), the same bytes as the portable edgec_fully_connected_s8.
 * Per batch row, 4 output rows at a time: each VLDRB of 16 inputs is shared by the 4 rows, each row's 16 weights
 * one VLDRB and one VMLADAVA.S8 (16 int8 products summed into the row's int32); a depth not a multiple of 16 ends
 * with one tail-predicated step (VCTP.8: the loads stop at the last input and weight). The 4 accumulators are
 * requantized as one vector (edgec_mve.h: TFLite's rounding exactly, onnxruntime's per lane) and stored by one
 * VSTRB.32; the last out_c % 4 rows are a predicated block.
 * `bias_folded` [out_c]: bias + input_offset * sum_d w[o, d] (edgec_mve.h; the generator computes it), 4-byte
 * aligned; p->bias and p->input_offset are not read. No scratch; input and output must not overlap. */
void edgec_fully_connected_s8_mve(const edgec_fully_connected_s8_params *p, const int32_t *bias_folded,
                                  const int8_t *input, int8_t *output);

#endif
