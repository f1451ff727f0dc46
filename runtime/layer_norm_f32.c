#include "layer_norm_f32.h"

/* Per row: mean = sum(x) / n; var = sum((x - mean)^2) / n (two passes); r = 1 / sqrtf(var + eps);
 * y_c = (x_c - mean) * r * gamma_c + beta_c. Sums in index order in one float.
 * Cost per element: 3 adds, 3 multiplies; per row one sqrtf and one divide. The output may be the input (a row
 * is read twice before it is written). */
void edgec_layer_norm_f32(const edgec_layer_norm_f32_params *p, const float *input, float *output, float *mean_out,
                          float *inv_std) {
    const int32_t n = p->inner;
    for (int32_t r = 0; r < p->outer; r++) {
        const float *x = input + r * n;
        float *y = output + r * n;
        float sum = 0.0f;
        for (int32_t c = 0; c < n; c++) sum += x[c];
        const float mean = sum / (float)n;
        float sq = 0.0f;
        for (int32_t c = 0; c < n; c++) {
            const float d = x[c] - mean;
            sq += d * d;
        }
        const float inv = 1.0f / sqrtf(sq / (float)n + p->epsilon);
        if (mean_out) mean_out[r] = mean;
        if (inv_std) inv_std[r] = inv;
        for (int32_t c = 0; c < n; c++) {
            const float v = (x[c] - mean) * inv * p->gamma[c];
            y[c] = p->beta ? v + p->beta[c] : v;
        }
    }
}
