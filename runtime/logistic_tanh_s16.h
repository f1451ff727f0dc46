#ifndef EDGEC_LOGISTIC_TANH_S16_H
#define EDGEC_LOGISTIC_TANH_S16_H
#include <stdint.h>

/* 16x8 LOGISTIC and TANH (TFLite Micro's int16 kernels): int16 input and output with zero point 0, output scale
 * 2^-15. The input is rescaled to the table's units, v = (x * input_multiplier + round) >> input_shift (round =
 * 2^(input_shift - 1), or 0 for shift 0), then read by interpolation in the 256-entry table of sigmoid(i/24) in
 * 0.16 fixed point (logistic_tanh_s16.c). */
typedef struct {
    int32_t size;
    int32_t input_multiplier, input_shift; /* input_multiplier <= 32767, so x * multiplier fits int32 */
} edgec_logistic_tanh_s16_params;

void edgec_logistic_s16(const edgec_logistic_tanh_s16_params *p, const int16_t *input, int16_t *output);
void edgec_tanh_s16(const edgec_logistic_tanh_s16_params *p, const int16_t *input, int16_t *output);

#endif
