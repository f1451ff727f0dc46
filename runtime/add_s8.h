#ifndef EDGEC_ADD_S8_H
#define EDGEC_ADD_S8_H
#include <stdint.h>

/* int8 ADD and SUB with numpy broadcasting (one parameter struct serves both).
 * The output is walked as a 6-deep loop nest (outermost first); input k steps stride<k>[d] elements per step
 * of loop d (0 where it is repeated). Both inputs are rescaled to a shared scale with 2^left_shift head room:
 *     v_k = MBQM((q_k + input<k>_offset) * 2^left_shift, input<k>_multiplier, input<k>_shift)
 *     y   = clamp(MBQM(v_1 +- v_2, output_multiplier, output_shift) + output_offset, act_min, act_max)
 * All shifts are <= 0 (every multiplier is below 1). */
typedef struct {
    int32_t shape[6];
    int32_t stride1[6];
    int32_t stride2[6];
    int32_t input1_offset, input2_offset, output_offset;
    int32_t left_shift;
    int32_t input1_multiplier, input1_shift;
    int32_t input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
    int32_t act_min, act_max;
} edgec_add_s8_params;

void edgec_add_s8(const edgec_add_s8_params *p, const int8_t *input1, const int8_t *input2, int8_t *output);
void edgec_sub_s8(const edgec_add_s8_params *p, const int8_t *input1, const int8_t *input2, int8_t *output);

#endif
