#include "quantize.h"
#include "edgec_fixedpoint.h"

/* clamp(round(x / scale) + zp) with std::round (halves away from zero). trunc(q) and q - trunc(q) are exact in
 * float32, so the rounding is exact (unlike floor(q + 0.5f)). Where TFLM's own float->int32 cast is undefined
 * (|q| >= 2^31, inf, NaN) this saturates and sends NaN to the zero point, as TFLM on Arm does. */
static int32_t quantize_one(float x, const edgec_quantize_f32_params *p) {
    const float q = x / p->scale;
    int64_t r;
    if (q != q) {
        r = 0;
    } else if (q >= 2147483648.0f) {
        r = INT32_MAX;
    } else if (q <= -2147483648.0f) {
        r = INT32_MIN;
    } else {
        const int32_t t = (int32_t)q; /* truncates toward zero; in range here */
        const float frac = q - (float)t;
        r = (int64_t)t + (frac >= 0.5f ? 1 : 0) - (frac <= -0.5f ? 1 : 0);
    }
    r += p->zero_point;
    return (int32_t)(r < p->q_min ? p->q_min : (r > p->q_max ? p->q_max : r));
}

void edgec_quantize_f32_s8(const edgec_quantize_f32_params *p, const float *input, int8_t *output) {
    for (int32_t i = 0; i < p->size; i++) output[i] = (int8_t)quantize_one(input[i], p);
}

void edgec_quantize_f32_s16(const edgec_quantize_f32_params *p, const float *input, int16_t *output) {
    for (int32_t i = 0; i < p->size; i++) output[i] = (int16_t)quantize_one(input[i], p);
}

static int32_t requantize_one(int32_t x, const edgec_requantize_params *p) {
    const int32_t scaled = edgec_mbqm(x - p->input_offset, p->multiplier, (int)p->shift);
    return edgec_clamp(edgec_wrap_add(scaled, p->output_offset), p->q_min, p->q_max);
}

void edgec_requantize_s8_s8(const edgec_requantize_params *p, const int8_t *input, int8_t *output) {
    for (int32_t i = 0; i < p->size; i++) output[i] = (int8_t)requantize_one(input[i], p);
}

void edgec_requantize_s8_s16(const edgec_requantize_params *p, const int8_t *input, int16_t *output) {
    for (int32_t i = 0; i < p->size; i++) output[i] = (int16_t)requantize_one(input[i], p);
}

void edgec_requantize_s8_s32(const edgec_requantize_params *p, const int8_t *input, int32_t *output) {
    for (int32_t i = 0; i < p->size; i++) output[i] = requantize_one(input[i], p);
}

void edgec_requantize_s16_s8(const edgec_requantize_params *p, const int16_t *input, int8_t *output) {
    for (int32_t i = 0; i < p->size; i++) output[i] = (int8_t)requantize_one(input[i], p);
}

void edgec_requantize_s16_s16(const edgec_requantize_params *p, const int16_t *input, int16_t *output) {
    for (int32_t i = 0; i < p->size; i++) output[i] = (int16_t)requantize_one(input[i], p);
}

void edgec_requantize_s16_s32(const edgec_requantize_params *p, const int16_t *input, int32_t *output) {
    for (int32_t i = 0; i < p->size; i++) output[i] = requantize_one(input[i], p);
}

void edgec_dequantize_s16_f32(const edgec_dequantize_params *p, const int16_t *input, float *output) {
    for (int32_t i = 0; i < p->size; i++) output[i] = p->scale * (float)((int32_t)input[i] - p->zero_point);
}

void edgec_dequantize_s8_f32(const edgec_dequantize_params *p, const int8_t *input, float *output) {
    for (int32_t i = 0; i < p->size; i++) output[i] = p->scale * (float)((int32_t)input[i] - p->zero_point);
}
