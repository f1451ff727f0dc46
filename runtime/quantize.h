#ifndef EDGEC_QUANTIZE_H
#define EDGEC_QUANTIZE_H
#include <stdint.h>

/* QUANTIZE and DEQUANTIZE as TFLite Micro's reference kernels compute them.
 *
 * float -> intN:  q = clamp(round_half_away(x / scale) + zp, q_min, q_max), x / scale in float32 (like TFLM).
 *   Build without -ffast-math: the division must stay an IEEE float32 division.
 * intN -> intM:   q = clamp(MBQM(x - zp_in, M, shift) + zp_out, q_min, q_max), M/shift from s_in / s_out.
 * int8/int16 -> float:  y = scale * (x - zp), float32 (bit-identical to TFLM's double product cast to float: the
 *   exact product of a float and an integer below 2^24 fits a double, so both round once from the exact value).
 * int16 (TFLite's 16x8 activations): |x - zp| < 2^17, so the int32 arithmetic above holds as for int8.
 */
typedef struct {
    int32_t size;
    float scale;
    int32_t zero_point;
    int32_t q_min, q_max;
} edgec_quantize_f32_params;

typedef struct {
    int32_t size;
    int32_t input_offset; /* zp_in */
    int32_t output_offset; /* zp_out */
    int32_t multiplier;
    int32_t shift;
    int32_t q_min, q_max;
} edgec_requantize_params;

typedef struct {
    int32_t size;
    float scale;
    int32_t zero_point;
} edgec_dequantize_params;

void edgec_quantize_f32_s8(const edgec_quantize_f32_params *p, const float *input, int8_t *output);
void edgec_quantize_f32_s16(const edgec_quantize_f32_params *p, const float *input, int16_t *output);
void edgec_requantize_s8_s8(const edgec_requantize_params *p, const int8_t *input, int8_t *output);
void edgec_requantize_s8_s16(const edgec_requantize_params *p, const int8_t *input, int16_t *output);
void edgec_requantize_s8_s32(const edgec_requantize_params *p, const int8_t *input, int32_t *output);
void edgec_requantize_s16_s8(const edgec_requantize_params *p, const int16_t *input, int8_t *output);
void edgec_requantize_s16_s16(const edgec_requantize_params *p, const int16_t *input, int16_t *output);
void edgec_requantize_s16_s32(const edgec_requantize_params *p, const int16_t *input, int32_t *output);
void edgec_dequantize_s8_f32(const edgec_dequantize_params *p, const int8_t *input, float *output);
void edgec_dequantize_s16_f32(const edgec_dequantize_params *p, const int16_t *input, float *output);

#endif
