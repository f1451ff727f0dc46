/* 16x8 LSTM, TFLite Micro's LSTM with int16 activations (toolchain/ops/lstm.py has the formulas):
 *   z_g = sat16(clamp16(MBQM64(b_g + W_g x, Mx_g)) + clamp16(MBQM64(R_g h, Mh_g)))      Q3.12, int64 sums
 *   i, f, o = sigma16(z), g = tanh16(z)                                                  Q0.15
 *   c = sat16(clamp16(MBQM(f c, 2^-15)) + clamp16(MBQM(i g, 2^-30 / s_c))), clipped
 *   h = clamp16(MBQM(tanh16(c) o, 2^-30 / s_h)), written to the output step and then to the state.
 * Cost per step and row: 4 units (input_size + units) MACs (int16 x int8 into int64), 5 table interpolations and
 * 3 rescales per unit. No scratch: a step's new h goes to its output slice first (the gates of every unit read the
 * old h) and is copied into the state at the end of the step. */
#include "lstm_s16.h"
#include "edgec_fixedpoint.h"

static inline int32_t sat16(int32_t v) { return edgec_clamp(v, -32768, 32767); }

static int64_t lstm_dot16(const int8_t *w, const int16_t *v, int32_t n) {
    int64_t acc = 0;
    for (int32_t k = 0; k < n; k++) acc += (int32_t)w[k] * (int32_t)v[k];
    return acc;
}

void edgec_lstm_s16(const edgec_lstm_s16_params *p, const int16_t *input, int16_t *hidden, int16_t *cell,
                    int16_t *output, int16_t *final_hidden, int16_t *final_cell) {
    const int32_t n = p->units, in = p->input_size;
    for (int32_t b = 0; b < p->batches; b++) {
        int16_t *h = hidden + b * n;
        int16_t *c = cell + b * n;
        if (p->reset_state) {
            for (int32_t u = 0; u < n; u++) { h[u] = 0; c[u] = 0; }
        }
        for (int32_t t = 0; t < p->time_steps; t++) {
            const int32_t row = p->time_major ? t * p->batches + b : b * p->time_steps + t;
            const int16_t *x = input + row * in;
            int16_t *y = output + row * n;
            for (int32_t u = 0; u < n; u++) {
                int32_t z[4];
                for (int32_t k = 0; k < 4; k++) {
                    const int64_t fx = lstm_dot16(p->input_weights[k] + u * in, x, in) + p->bias[k][u];
                    const int64_t fh = lstm_dot16(p->recurrent_weights[k] + u * n, h, n);
                    z[k] = sat16(sat16(edgec_mbqm64(fx, p->input_multiplier[k], p->input_shift[k])) +
                                 sat16(edgec_mbqm64(fh, p->hidden_multiplier[k], p->hidden_shift[k])));
                }
                const int32_t gi = edgec_lstm_sigmoid16(p->sigmoid_table, z[0]);
                const int32_t gf = edgec_lstm_sigmoid16(p->sigmoid_table, z[1]);
                const int32_t gg = edgec_lstm_tanh16(p->sigmoid_table, z[2], -12);
                const int32_t go = edgec_lstm_sigmoid16(p->sigmoid_table, z[3]);
                int32_t cu = sat16(edgec_mbqm(gf * (int32_t)c[u], 1 << 30, -14));
                cu = sat16(cu + sat16(edgec_mbqm(gi * gg, p->ig_multiplier, p->ig_shift)));
                if (p->cell_clip > 0) cu = edgec_clamp(cu, -p->cell_clip, p->cell_clip);
                c[u] = (int16_t)cu;
                const int32_t th = edgec_lstm_tanh16(p->sigmoid_table, cu, p->cell_power);
                y[u] = (int16_t)sat16(edgec_mbqm(th * go, p->h_multiplier, p->h_shift));
            }
            for (int32_t u = 0; u < n; u++) h[u] = y[u];
        }
    }
    const int32_t size = p->batches * p->units;
    for (int32_t k = 0; final_hidden && k < size; k++) final_hidden[k] = hidden[k];
    for (int32_t k = 0; final_cell && k < size; k++) final_cell[k] = cell[k];
}
