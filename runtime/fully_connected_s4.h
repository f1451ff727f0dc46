#ifndef EDGEC_FULLY_CONNECTED_S4_H
#define EDGEC_FULLY_CONNECTED_S4_H
#include <stdint.h>

#include "fully_connected_s8.h"

/* int8 fully connected with int4 weights packed two per byte (edgec_int4.h), [out_c, depth] order: the same
 * parameters as edgec_fully_connected_s8 (p->weights unused; per-tensor or per-channel requantization), the
 * weights in `packed`, and `row`: depth bytes of scratch that receive one output's weights, unpacked. Same results
 * as edgec_fully_connected_s8 on the unpacked weights, bit for bit. */
void edgec_fully_connected_s4(const edgec_fully_connected_s8_params *p, const uint8_t *packed, int8_t *row,
                              const int8_t *input, int8_t *output);

#endif
