#include "gelu_f32.h"

/* exact:       y = 0.5 * x * (1 + erff(x / sqrt 2))
 * approximate: y = 0.5 * x * (1 + tanhf(sqrt(2 / pi) * (x + 0.044715 * x^3)))
 * Cost per element: one erff or tanhf and 3 (6) multiplies or adds. In place is fine (one read, then one write). */
void edgec_gelu_f32(const edgec_gelu_f32_params *p, const float *input, float *output) {
    for (int32_t i = 0; i < p->size; i++) {
        const float x = input[i];
        float t;
        if (p->approximate)
            t = tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x));
        else
            t = erff(x * 0.7071067811865476f);
        output[i] = 0.5f * x * (1.0f + t);
    }
}
