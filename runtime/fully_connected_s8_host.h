#ifndef EDGEC_FULLY_CONNECTED_S8_HOST_H
#define EDGEC_FULLY_CONNECTED_S8_HOST_H
#include <stdint.h>

#include "fully_connected_s8.h"

/* int8 FULLY_CONNECTED for the host: plain C99 whose dot products gcc -O2 vectorizes (PMADDWD on x86). The same
 * parameters and bytes as the portable edgec_fully_connected_s8.
 * `weights16` [out_c][d_pad]: the weights as int16, depth padded with zeros to d_pad, the next multiple of
 * EDGEC_FC_HOST_STEP; `bias_folded` [out_c]: bias[o] + input_offset * sum_d w[o][d] (compile time);
 * `requant` [out_c][4]: the output stage's constants (edgec_host.h), or NULL for onnxruntime's rounding.
 * `vq`, `voff`: the vector output stage's constants (edgec_host.h edgec_host_out16), or NULL.
 * One input row as int16 and one row of sums are on the stack (depth <= EDGEC_FC_HOST_MAX_DEPTH, out_c <=
 * EDGEC_FC_HOST_MAX_OUT). */
#define EDGEC_FC_HOST_STEP 8
#define EDGEC_FC_HOST_MAX_DEPTH 16384
#define EDGEC_FC_HOST_MAX_OUT 4096

void edgec_fully_connected_s8_host(const edgec_fully_connected_s8_params *p, const int16_t *weights16,
                                   const int32_t *bias_folded, const int32_t *requant, const double *vq,
                                   const int32_t *voff, const int8_t *input, int8_t *output);

#endif
