#ifndef EDGEC_ADD_S16_H
#define EDGEC_ADD_S16_H
#include <stdint.h>

/* 16x8 ADD with numpy broadcasting (TFLite Micro's int16 ADD, general scales): int16 inputs and output, zero
 * points 0. The output is walked as a 6-deep loop nest (outermost first); input k steps stride<k>[d] elements per
 * step of loop d (0 where it is repeated). With 2^15 head room and every multiplier below 1 (shifts <= 0):
 *     v_k = MBQM(q_k * 2^15, input<k>_multiplier, input<k>_shift)
 *     y   = clamp(MBQM(v_1 + v_2, output_multiplier, output_shift), act_min, act_max) */
typedef struct {
    int32_t shape[6];
    int32_t stride1[6];
    int32_t stride2[6];
    int32_t input1_multiplier, input1_shift;
    int32_t input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
    int32_t act_min, act_max;
} edgec_add_s16_params;

void edgec_add_s16(const edgec_add_s16_params *p, const int16_t *input1, const int16_t *input2, int16_t *output);
/* 16x8 SUB: the same with v_1 - v_2 (TFLite Micro's int16 SUB) */
void edgec_sub_s16(const edgec_add_s16_params *p, const int16_t *input1, const int16_t *input2, int16_t *output);

#endif
