/* float32 GRU (toolchain/ops/gru.py), per step and batch row, h the previous hidden state:
 *   z = sigma((W_z x + Wb_z) + (R_z h + Rb_z)),  r = sigma((W_r x + Wb_r) + (R_r h + Rb_r))
 *   c = tanh((W_h x + Wb_h) + r o (R_h h + Rb_h))      linear_before_reset = 1 (PyTorch)
 *   c = tanh((W_h x + Wb_h) + (R_h (r o h) + Rb_h))    linear_before_reset = 0 (r o h first, in scratch)
 *   h' = (1 - z) c + z h
 * sigma is TFLite's (1 above 16.619047, e^z below -9, else 1 / (1 + e^-z)); products summed in k order.
 * reverse: the steps run from t = T-1 down to 0 (output step t is still written at t).
 * Cost per step and row: 3 units (input_size + units) MACs, 3 exp/tanh per unit. The new h goes to the output
 * step first and into the state at the end of the step (every unit reads the whole previous h). */
#include "gru_f32.h"

static float gru_sigmoidf(float z) {
    if (z > 16.619047f) return 1.0f;
    if (z < -9.0f) return expf(z);
    return 1.0f / (1.0f + expf(-z));
}

static float gru_dotf(const float *w, const float *v, int32_t n) {
    float acc = 0.0f;
    for (int32_t k = 0; k < n; k++) acc += w[k] * v[k];
    return acc;
}

void edgec_gru_f32(const edgec_gru_f32_params *p, const float *input, float *hidden, float *output,
                   float *final_hidden, float *scratch) {
    const int32_t n = p->units, in = p->input_size;
    for (int32_t b = 0; b < p->batches; b++) {
        float *h = hidden + b * n;
        if (p->reset_state) {
            for (int32_t u = 0; u < n; u++) h[u] = 0.0f;
        }
        for (int32_t step = 0; step < p->time_steps; step++) {
            const int32_t t = p->reverse ? p->time_steps - 1 - step : step;
            const int32_t row = p->time_major ? t * p->batches + b : b * p->time_steps + t;
            const float *x = input + row * in;
            float *y = output + row * n;
            if (!p->linear_before_reset) { /* r o h, whole, before the candidates */
                for (int32_t u = 0; u < n; u++) {
                    const float zr = (gru_dotf(p->input_weights[1] + u * in, x, in) + p->input_bias[1][u]) +
                                     (gru_dotf(p->recurrent_weights[1] + u * n, h, n) + p->recurrent_bias[1][u]);
                    scratch[u] = gru_sigmoidf(zr) * h[u];
                }
            }
            for (int32_t u = 0; u < n; u++) {
                const float gz = gru_sigmoidf(
                    (gru_dotf(p->input_weights[0] + u * in, x, in) + p->input_bias[0][u]) +
                    (gru_dotf(p->recurrent_weights[0] + u * n, h, n) + p->recurrent_bias[0][u]));
                float rec;
                if (p->linear_before_reset) {
                    const float gr = gru_sigmoidf(
                        (gru_dotf(p->input_weights[1] + u * in, x, in) + p->input_bias[1][u]) +
                        (gru_dotf(p->recurrent_weights[1] + u * n, h, n) + p->recurrent_bias[1][u]));
                    rec = gr * (gru_dotf(p->recurrent_weights[2] + u * n, h, n) + p->recurrent_bias[2][u]);
                } else {
                    rec = gru_dotf(p->recurrent_weights[2] + u * n, scratch, n) + p->recurrent_bias[2][u];
                }
                const float c = tanhf((gru_dotf(p->input_weights[2] + u * in, x, in) + p->input_bias[2][u]) + rec);
                y[u] = (1.0f - gz) * c + gz * h[u];
            }
            for (int32_t u = 0; u < n; u++) h[u] = y[u];
        }
    }
    const int32_t size = p->batches * p->units;
    for (int32_t k = 0; final_hidden && k < size; k++) final_hidden[k] = hidden[k];
}
