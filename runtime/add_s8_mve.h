#ifndef EDGEC_ADD_S8_MVE_H
#define EDGEC_ADD_S8_MVE_H
#include <stdint.h>

#include "add_s8.h"

/* int8 ADD and SUB with Helium (MVE, Cortex-M55): the table kernel (add_s8_lut.h: the same two 256-entry tables of
 * each input's rescale, the same bytes as edgec_add_s8 / edgec_sub_s8) 4 elements per vector. Along a row where
 * both inputs step by one element: VLDRB.S32 of 4 elements of each input, VADD of 128 (the table index), one
 * gather VLDRW of each table, VADD, the output's MBQM as a vector (edgec_mve.h), + zp, the clamp, VSTRB.32; the
 * last n % 4 elements predicated. Other rows (an input broadcast along the row) run the scalar table loop. In
 * place (output == an input, element for element) as the table kernel: each vector is read before it is written. */
void edgec_add_s8_mve(const edgec_add_s8_params *p, const int32_t *table1, const int32_t *table2,
                      const int8_t *input1, const int8_t *input2, int8_t *output);

#endif
