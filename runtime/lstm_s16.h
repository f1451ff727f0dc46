#ifndef EDGEC_LSTM_S16_H
#define EDGEC_LSTM_S16_H
#include <stdint.h>

#include "lstm_common.h"

/* 16x8 LSTM (TFLite Micro's LSTM with int16 activations): int16 input, hidden state and output (zero point 0),
 * int8 weights, int64 biases, int16 gates and cell state; gate order i, f, c(g), o. The hidden state h
 * [batches, units] and cell state c (both int16) are kept by the caller between invocations; final_hidden and
 * final_cell (or NULL) receive copies of them after the last step. */
typedef struct {
    edgec_lstm_gates g;      /* the fields lstm_s8 shares (lstm_common.h; reset_state: h and c start at 0) */
    const int64_t *bias[4];  /* [units] each */
} edgec_lstm_s16_params;

void edgec_lstm_s16(const edgec_lstm_s16_params *p, const int16_t *input, int16_t *hidden, int16_t *cell,
                    int16_t *output, int16_t *final_hidden, int16_t *final_cell);

#endif
