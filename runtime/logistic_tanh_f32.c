#include "logistic_tanh_f32.h"

/* y = 1 / (1 + e^-x), as TFLite's float reference evaluates it: above 16.619047 the result rounds to 1 in float
 * anyway; below -9, e^x (relative error < e^-9 = 1.2e-4 against the exact value, TFLite's choice, kept so the
 * two agree). */
void edgec_logistic_f32(const edgec_logistic_tanh_f32_params *p, const float *input, float *output) {
    const float upper = 16.619047164916992188f, lower = -9.0f;
    for (int32_t i = 0; i < p->size; i++) {
        const float x = input[i];
        output[i] = x > upper ? 1.0f : (x < lower ? expf(x) : 1.0f / (1.0f + expf(-x)));
    }
}

void edgec_tanh_f32(const edgec_logistic_tanh_f32_params *p, const float *input, float *output) {
    for (int32_t i = 0; i < p->size; i++) output[i] = tanhf(input[i]);
}
