#ifndef EDGEC_MEAN_S8_H
#define EDGEC_MEAN_S8_H
#include <stdint.h>

/* int8 MEAN over any axes. Output elements are walked by the kept loops (out_shape, outermost first), and
 * each mean sums the input over the reduced loops (red_shape); the strides are input element steps.
 *     y = clamp(MBQM(sum - input_zero_point * count, multiplier, shift) + output_zero_point, -128, 127)
 * where multiplier/shift already include the division by count (compile time). With rounding = 1 the rescale is
 * onnxruntime's instead (edgec_requantize_f32: multiplier/shift are the float32 scale's mantissa and exponent). */
typedef struct {
    int32_t out_shape[4], out_stride[4];
    int32_t red_shape[4], red_stride[4];
    int32_t count;
    int32_t input_zero_point, output_zero_point;
    int32_t multiplier, shift;
    int32_t rounding; /* 0: TFLite (MBQM), 1: onnxruntime (float32 multiply, ties to even) */
} edgec_mean_s8_params;

void edgec_mean_s8(const edgec_mean_s8_params *p, const int8_t *input, int8_t *output);

#endif
