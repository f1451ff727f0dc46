#ifndef EDGEC_RELU_S16_H
#define EDGEC_RELU_S16_H
#include <stdint.h>

/* 16x8 RELU and RELU6 as TFLite Micro runs them on int16 (zero points 0):
 *   edgec_relu_s16:  y = clamp(MBQM(x, M, shift), act_min, 32767)       (RELU: rescaled from s_x to s_y)
 *   edgec_clamp_s16: y = clamp(x, 0, round(6 / s_x))                     (RELU6: no rescale, bounds on s_x) */
typedef struct {
    int32_t size;
    int32_t multiplier;
    int32_t shift;
    int32_t act_min, act_max;
} edgec_relu_s16_params;

void edgec_relu_s16(const edgec_relu_s16_params *p, const int16_t *input, int16_t *output);
void edgec_clamp_s16(const edgec_relu_s16_params *p, const int16_t *input, int16_t *output);

#endif
