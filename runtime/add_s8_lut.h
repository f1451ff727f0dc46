#ifndef EDGEC_ADD_S8_LUT_H
#define EDGEC_ADD_S8_LUT_H
#include <stdint.h>

#include "add_s8.h"

/* int8 ADD and SUB through two 256-entry tables: the same bytes as edgec_add_s8 / edgec_sub_s8.
 * An input's rescale depends on its int8 value alone, so the compiler computes it for all 256 values:
 *     table_k[q + 128] = v_k(q) = MBQM((q + input<k>_offset) * 2^left_shift, input<k>_multiplier, input<k>_shift)
 * (for SUB, table2 holds -v_2(q); |v_k| < 2^28, so the negation and the sum are exact), and per element
 *     y = clamp(MBQM(table1[q1 + 128] + table2[q2 + 128], output_multiplier, output_shift) + output_offset,
 *               act_min, act_max)
 * Cost per element: two byte loads, two table loads, an add, one rescale (instead of three) and the clamp;
 * 2 KB of tables in flash per layer. The broadcast loops are edgec_add_s8's (p->shape, p->stride1/2). */
void edgec_add_s8_lut(const edgec_add_s8_params *p, const int32_t *table1, const int32_t *table2,
                      const int8_t *input1, const int8_t *input2, int8_t *output);

#endif
