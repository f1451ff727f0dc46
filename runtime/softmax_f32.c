#include "softmax_f32.h"

/* Per row: m = max(x); e_c = expf((x_c - m) * beta) (every argument <= 0: no overflow); y_c = e_c / sum_c e_c,
 * the sum taken c ascending in one float. The output holds e_c until the sum is known. */
void edgec_softmax_f32(const edgec_softmax_f32_params *p, const float *input, float *output) {
    for (int32_t r = 0; r < p->outer; r++) {
        const float *x = input + r * p->depth;
        float *y = output + r * p->depth;
        float m = x[0];
        for (int32_t c = 1; c < p->depth; c++) m = x[c] > m ? x[c] : m;
        float sum = 0.0f;
        for (int32_t c = 0; c < p->depth; c++) {
            y[c] = expf((x[c] - m) * p->beta);
            sum += y[c];
        }
        for (int32_t c = 0; c < p->depth; c++) y[c] = y[c] / sum;
    }
}
