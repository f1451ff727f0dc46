#ifndef EDGEC_MUL_S8_H
#define EDGEC_MUL_S8_H
#include <stdint.h>

/* int8 MUL with numpy broadcasting. The output is walked as a 6-deep loop nest (outermost first); input k
 * steps stride<k>[d] elements per step of loop d (0 where it is repeated).
 *     y = clamp(MBQM((q_1 + input1_offset) * (q_2 + input2_offset), output_multiplier, output_shift)
 *               + output_offset, act_min, act_max) */
typedef struct {
    int32_t shape[6];
    int32_t stride1[6];
    int32_t stride2[6];
    int32_t input1_offset, input2_offset, output_offset;
    int32_t output_multiplier, output_shift;
    int32_t act_min, act_max;
} edgec_mul_s8_params;

void edgec_mul_s8(const edgec_mul_s8_params *p, const int8_t *input1, const int8_t *input2, int8_t *output);

#endif
