#ifndef EDGEC_LSTM_S16_H
#define EDGEC_LSTM_S16_H
#include <stdint.h>

/* 16x8 LSTM (TFLite Micro's LSTM with int16 activations): int16 input, hidden state and output (zero point 0),
 * int8 weights, int64 biases, int16 gates and cell state; gate order i, f, c(g), o. The hidden state h
 * [batches, units] and cell state c (both int16) are kept by the caller between invocations; final_hidden and
 * final_cell (or NULL) receive copies of them after the last step. */
typedef struct {
    int32_t time_steps, batches, input_size, units;
    int32_t reset_state;     /* 1: h and c start every invocation at 0 (an ONNX LSTM) */
    int32_t time_major;      /* 1: input [T, B, I], output [T, B, N]; 0: [B, T, I], [B, T, N] */
    const int32_t *input_multiplier, *input_shift;   /* [4]: s_x s_W / 2^-12 (64-bit rescale) */
    const int32_t *hidden_multiplier, *hidden_shift; /* [4]: s_h s_R / 2^-12 (64-bit rescale) */
    int32_t ig_multiplier, ig_shift; /* 2^-30 / s_c */
    int32_t h_multiplier, h_shift;   /* 2^-30 / s_h */
    int32_t cell_power;              /* s_c = 2^cell_power */
    int32_t cell_clip;               /* > 0: |c| clamped to it */
    const uint16_t *sigmoid_table;   /* [256]: sigma(i / 24) 2^16 */
    const int8_t *input_weights[4];     /* [units, input_size] each */
    const int8_t *recurrent_weights[4]; /* [units, units] each */
    const int64_t *bias[4];             /* [units] each */
} edgec_lstm_s16_params;

void edgec_lstm_s16(const edgec_lstm_s16_params *p, const int16_t *input, int16_t *hidden, int16_t *cell,
                    int16_t *output, int16_t *final_hidden, int16_t *final_cell);

#endif
