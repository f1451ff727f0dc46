#ifndef EDGEC_ADD_S8_LUT_DSP_H
#define EDGEC_ADD_S8_LUT_DSP_H
#include <stdint.h>

#include "add_s8.h"

/* int8 ADD and SUB on a core with DSP: edgec_add_s8_lut (add_s8_lut.h, the same tables) with the output's rescale
 * by the compile-time stage of edgec_dsp_out.h (stage: EDGEC_DSP_OUT_WORDS int32, start unused), which the
 * compiler passes only when it is exact for every raw = table1 + table2 the tables can sum (toolchain/ops/add.py,
 * dsp_stage): LDRSB x2, LDR x2, ADD, LSL, SMMLAR, ADD, ASR, SSAT, STRB per element (13 instructions with the loop
 * on ResNet-8's adds instead of 52). Without DSP, edgec_dsp_out.h's C models compute the same bytes. */
void edgec_add_s8_lut_dsp(const edgec_add_s8_params *p, const int32_t *table1, const int32_t *table2,
                          const int32_t *stage, const int8_t *input1, const int8_t *input2, int8_t *output);

#endif
