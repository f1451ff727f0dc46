#ifndef EDGEC_LSTM_S8_H
#define EDGEC_LSTM_S8_H
#include <stdint.h>

#include "lstm_common.h"

/* int8 LSTM (TFLite Micro's 8x8->16 integer LSTM): int8 input, hidden state and output, int16 gates and cell
 * state; gate order i, f, c(g), o. The hidden state h [batches, units] (int8) and cell state c (int16) are kept by
 * the caller between invocations; final_hidden and final_cell (or NULL) receive copies of them after
 * the last step. */
typedef struct {
    edgec_lstm_gates g;      /* the fields lstm_s16 shares (lstm_common.h) */
    int32_t input_offset;    /* -zp_x */
    int32_t hidden_offset;   /* -zp_h */
    int32_t output_offset;   /* zp_h (the output carries h's quantization) */
    const int32_t *bias[4];  /* [units] each */
} edgec_lstm_s8_params;

void edgec_lstm_s8(const edgec_lstm_s8_params *p, const int8_t *input, int8_t *hidden, int16_t *cell,
                   int8_t *output, int8_t *final_hidden, int16_t *final_cell);

#endif
