#ifndef EDGEC_SQUARED_DIFFERENCE_F32_H
#define EDGEC_SQUARED_DIFFERENCE_F32_H
#include <stdint.h>

/* float32 SQUARED_DIFFERENCE with numpy broadcasting (the loop nest of edgec_broadcast.h). */
typedef struct {
    int32_t shape[6];
    int32_t stride1[6];
    int32_t stride2[6];
} edgec_squared_difference_f32_params;

void edgec_squared_difference_f32(const edgec_squared_difference_f32_params *p, const float *input1,
                                  const float *input2, float *output);

#endif
