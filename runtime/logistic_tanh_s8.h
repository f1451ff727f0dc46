#ifndef EDGEC_LOGISTIC_TANH_S8_H
#define EDGEC_LOGISTIC_TANH_S8_H
#include <stdint.h>

/* int8 logistic (output scale 1/256, zero point -128) and tanh (output scale 1/128, zero point 0), elementwise.
 * d = x - input_zero_point is saturated when |d| >= input_range_radius, else rescaled to Q4.27 by
 * (input_multiplier, input_left_shift) and fed to gemmlowp's fixed-point logistic / tanh. */
typedef struct {
    int32_t size;
    int32_t input_zero_point, input_range_radius;
    int32_t input_multiplier, input_left_shift;
} edgec_logistic_tanh_s8_params;

void edgec_logistic_s8(const edgec_logistic_tanh_s8_params *p, const int8_t *input, int8_t *output);
void edgec_tanh_s8(const edgec_logistic_tanh_s8_params *p, const int8_t *input, int8_t *output);

#endif
