#ifndef EDGEC_MUL_S16_H
#define EDGEC_MUL_S16_H
#include <stdint.h>

/* 16x8 MUL with numpy broadcasting (TFLite Micro's int16 MUL): int16 inputs and output, zero points 0. The output
 * is walked as a 6-deep loop nest (outermost first); input k steps stride<k>[d] elements per step of loop d.
 *     y = clamp(MBQM(q_1 * q_2, output_multiplier, output_shift), act_min, act_max) */
typedef struct {
    int32_t shape[6];
    int32_t stride1[6];
    int32_t stride2[6];
    int32_t output_multiplier, output_shift;
    int32_t act_min, act_max;
} edgec_mul_s16_params;

void edgec_mul_s16(const edgec_mul_s16_params *p, const int16_t *input1, const int16_t *input2, int16_t *output);

#endif
