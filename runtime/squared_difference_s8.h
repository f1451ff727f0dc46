#ifndef EDGEC_SQUARED_DIFFERENCE_S8_H
#define EDGEC_SQUARED_DIFFERENCE_S8_H
#include <stdint.h>

/* int8 SQUARED_DIFFERENCE with numpy broadcasting (the loop nest of edgec_broadcast.h). */
typedef struct {
    int32_t shape[6];
    int32_t stride1[6];
    int32_t stride2[6];
    int32_t input1_offset, input2_offset, output_offset;
    int32_t input1_multiplier, input1_shift, input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
} edgec_squared_difference_s8_params;

void edgec_squared_difference_s8(const edgec_squared_difference_s8_params *p, const int8_t *input1,
                                 const int8_t *input2, int8_t *output);

#endif
