#ifndef EDGEC_LSTM_COMMON_H
#define EDGEC_LSTM_COMMON_H
#include <stdint.h>

#include "edgec_fixedpoint.h"

/* What the two integer LSTM kernels (lstm_s8.h, lstm_s16.h) share: the parameters of the gates and the cell,
 * and one unit's step from its four gate pre-activations. Gate order i, f, c(g), o; int16 gates and cell state. */
typedef struct {
    int32_t time_steps, batches, input_size, units;
    int32_t reset_state;     /* 1: h and c start every invocation at their zero points (an ONNX LSTM) */
    int32_t time_major;      /* 1: input [T, B, I], output [T, B, N]; 0: [B, T, I], [B, T, N] */
    const int32_t *input_multiplier, *input_shift;   /* [4]: s_x s_W / 2^-12 (lstm_s16: 64-bit rescale) */
    const int32_t *hidden_multiplier, *hidden_shift; /* [4]: s_h s_R / 2^-12 (lstm_s16: 64-bit rescale) */
    int32_t ig_multiplier, ig_shift; /* 2^-30 / s_c */
    int32_t h_multiplier, h_shift;   /* 2^-30 / s_h */
    int32_t cell_power;              /* s_c = 2^cell_power */
    int32_t cell_clip;               /* > 0: |c| clamped to it */
    const uint16_t *sigmoid_table;   /* [256]: sigma(i / 24) 2^16 */
    const int8_t *input_weights[4];     /* [units, input_size] each */
    const int8_t *recurrent_weights[4]; /* [units, units] each */
} edgec_lstm_gates;

static inline int32_t edgec_lstm_sat16(int32_t v) { return edgec_clamp(v, -32768, 32767); }

/* the row of (batch b, step t) in the input and the output */
static inline int32_t edgec_lstm_row(const edgec_lstm_gates *g, int32_t b, int32_t t) {
    return g->time_major ? t * g->batches + b : b * g->time_steps + t;
}

/* One unit from its gate pre-activations z (Q3.12):
 *   i, f, o = sigma16(z), g = tanh16(z)                                                          Q0.15
 *   c = sat16(clamp16(MBQM(f c, 2^-15)) + clamp16(MBQM(i g, 2^-30 / s_c))), clipped, stored into *c
 * returns tanh16(c) o (Q0.30), which the kernel rescales by h_multiplier, h_shift into h. */
static inline int32_t edgec_lstm_unit(const edgec_lstm_gates *g, const int32_t z[4], int16_t *c) {
    const int32_t gi = edgec_lstm_sigmoid16(g->sigmoid_table, z[0]);
    const int32_t gf = edgec_lstm_sigmoid16(g->sigmoid_table, z[1]);
    const int32_t gg = edgec_lstm_tanh16(g->sigmoid_table, z[2], -12);
    const int32_t go = edgec_lstm_sigmoid16(g->sigmoid_table, z[3]);
    int32_t cu = edgec_lstm_sat16(edgec_mbqm(gf * (int32_t)*c, 1 << 30, -14));
    cu = edgec_lstm_sat16(cu + edgec_lstm_sat16(edgec_mbqm(gi * gg, g->ig_multiplier, g->ig_shift)));
    if (g->cell_clip > 0) cu = edgec_clamp(cu, -g->cell_clip, g->cell_clip);
    *c = (int16_t)cu;
    return edgec_lstm_tanh16(g->sigmoid_table, cu, g->cell_power) * go;
}

#endif
