/* int8 LSTM, TFLite Micro's integer 8x8->16 arithmetic (toolchain/ops/lstm.py has the formulas):
 *   z_g = sat16(clamp16(MBQM(b_g + W_g (x - zp_x), Mx_g)) + clamp16(MBQM(R_g (h - zp_h), Mh_g)))   Q3.12
 *   i, f, o = sigma16(z), g = tanh16(z)                                                          Q0.15
 *   c = sat16(clamp16(MBQM(f c, 2^-15)) + clamp16(MBQM(i g, 2^-30 / s_c))), clipped
 *   h = clamp8(MBQM(tanh16(c) o, 2^-30 / s_h) + zp_h), written to the output step and then to the state.
 * Cost per step and row: 4 units (input_size + units) MACs, 5 table interpolations and 3 rescales per unit.
 * No scratch: a step's new h goes to its output slice first (the gates of every unit read the old h) and is copied
 * into the state at the end of the step; each unit's c is its own. */
#include "lstm_s8.h"

static int32_t lstm_dot(const int8_t *w, const int8_t *v, int32_t n, int32_t offset) {
    int32_t acc = 0;
    for (int32_t k = 0; k < n; k++) acc += (int32_t)w[k] * ((int32_t)v[k] + offset);
    return acc;
}

void edgec_lstm_s8(const edgec_lstm_s8_params *p, const int8_t *input, int8_t *hidden, int16_t *cell,
                   int8_t *output, int8_t *final_hidden, int16_t *final_cell) {
    const edgec_lstm_gates *g = &p->g;
    const int32_t n = g->units, in = g->input_size;
    for (int32_t b = 0; b < g->batches; b++) {
        int8_t *h = hidden + b * n;
        int16_t *c = cell + b * n;
        if (g->reset_state) {
            for (int32_t u = 0; u < n; u++) { h[u] = (int8_t)(-p->hidden_offset); c[u] = 0; }
        }
        for (int32_t t = 0; t < g->time_steps; t++) {
            const int32_t row = edgec_lstm_row(g, b, t);
            const int8_t *x = input + row * in;
            int8_t *y = output + row * n;
            for (int32_t u = 0; u < n; u++) {
                int32_t z[4];
                for (int32_t k = 0; k < 4; k++) {
                    const int32_t fx = lstm_dot(g->input_weights[k] + u * in, x, in, p->input_offset)
                                        + p->bias[k][u];
                    const int32_t fh = lstm_dot(g->recurrent_weights[k] + u * n, h, n, p->hidden_offset);
                    const int32_t zx = edgec_lstm_sat16(edgec_mbqm(fx, g->input_multiplier[k], g->input_shift[k]));
                    const int32_t zh = edgec_lstm_sat16(edgec_mbqm(fh, g->hidden_multiplier[k], g->hidden_shift[k]));
                    z[k] = edgec_lstm_sat16(zx + zh);
                }
                const int32_t th_o = edgec_lstm_unit(g, z, &c[u]); /* tanh16(c) o */
                const int32_t hu = edgec_mbqm(th_o, g->h_multiplier, g->h_shift) + p->output_offset;
                y[u] = (int8_t)edgec_clamp(hu, -128, 127);
            }
            for (int32_t u = 0; u < n; u++) h[u] = y[u];
        }
    }
    const int32_t size = g->batches * g->units;
    for (int32_t k = 0; final_hidden && k < size; k++) final_hidden[k] = hidden[k];
    for (int32_t k = 0; final_cell && k < size; k++) final_cell[k] = cell[k];
}
