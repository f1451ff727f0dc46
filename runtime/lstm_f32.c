/* float32 LSTM (toolchain/ops/lstm.py): z_g = (sum_k W_g[u,k] x_k + b_g[u]) + sum_k R_g[u,k] h_k (k ascending);
 * i, f, o = sigma(z), g = tanh(z); c = f c + i g (clipped when cell_clip > 0); h = o tanh(c).
 * sigma is TFLite's: 1 above 16.619047, e^z below -9, else 1 / (1 + e^-z). reverse (an ONNX reverse LSTM, float
 * only): the steps run from t = T-1 down to 0, output step t still written at t.
 * Cost per step and row: 4 units (input_size + units) MACs, 5 exp/tanh per unit. No scratch: the new h goes to the
 * output step first and into the state at the end of the step. */
#include "lstm_f32.h"

static float lstm_sigmoidf(float z) {
    if (z > 16.619047f) return 1.0f;
    if (z < -9.0f) return expf(z);
    return 1.0f / (1.0f + expf(-z));
}

static float lstm_dotf(const float *w, const float *v, int32_t n) {
    float acc = 0.0f;
    for (int32_t k = 0; k < n; k++) acc += w[k] * v[k];
    return acc;
}

void edgec_lstm_f32(const edgec_lstm_f32_params *p, const float *input, float *hidden, float *cell, float *output,
                    float *final_hidden, float *final_cell) {
    const int32_t n = p->units, in = p->input_size;
    for (int32_t b = 0; b < p->batches; b++) {
        float *h = hidden + b * n;
        float *c = cell + b * n;
        if (p->reset_state) {
            for (int32_t u = 0; u < n; u++) { h[u] = 0.0f; c[u] = 0.0f; }
        }
        for (int32_t step = 0; step < p->time_steps; step++) {
            const int32_t t = p->reverse ? p->time_steps - 1 - step : step;
            const int32_t row = p->time_major ? t * p->batches + b : b * p->time_steps + t;
            const float *x = input + row * in;
            float *y = output + row * n;
            for (int32_t u = 0; u < n; u++) {
                float z[4];
                for (int32_t k = 0; k < 4; k++) {
                    z[k] = (lstm_dotf(p->input_weights[k] + u * in, x, in) + p->bias[k][u]) +
                           lstm_dotf(p->recurrent_weights[k] + u * n, h, n);
                }
                const float gi = lstm_sigmoidf(z[0]), gf = lstm_sigmoidf(z[1]), go = lstm_sigmoidf(z[3]);
                const float gg = tanhf(z[2]);
                float cu = gf * c[u] + gi * gg;
                if (p->cell_clip > 0.0f) cu = edgec_clampf(cu, -p->cell_clip, p->cell_clip);
                c[u] = cu;
                y[u] = go * tanhf(cu);
            }
            for (int32_t u = 0; u < n; u++) h[u] = y[u];
        }
    }
    const int32_t size = p->batches * p->units;
    for (int32_t k = 0; final_hidden && k < size; k++) final_hidden[k] = hidden[k];
    for (int32_t k = 0; final_cell && k < size; k++) final_cell[k] = cell[k];
}
