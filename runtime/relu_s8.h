#ifndef EDGEC_RELU_S8_H
#define EDGEC_RELU_S8_H
#include <stdint.h>

/* int8 RELU, RELU6, RELU_N1_TO_1 as TFLite Micro runs them, and ONNX Clip with any bounds:
 *   edgec_relu_s8:  y = clamp(zp_y + MBQM(x - zp_x, M, shift), act_min, act_max)   (RELU; RELU_N1_TO_1; Clip)
 *   edgec_clamp_s8: y = clamp(x, act_min, act_max)                                   (RELU6: no rescale,
 *                   the bounds come from the input's quantization) */
typedef struct {
    int32_t size;
    int32_t input_offset;  /* zp_x */
    int32_t output_offset; /* zp_y */
    int32_t multiplier;
    int32_t shift;
    int32_t act_min, act_max;
} edgec_relu_s8_params;

void edgec_relu_s8(const edgec_relu_s8_params *p, const int8_t *input, int8_t *output);
void edgec_clamp_s8(const edgec_relu_s8_params *p, const int8_t *input, int8_t *output);

#endif
