#ifndef EDGEC_LSTM_F32_H
#define EDGEC_LSTM_F32_H
#include <stdint.h>

#include "edgec_float.h"

/* float32 LSTM (gate order i, f, c(g), o); h and c [batches, units] kept by the caller between invocations; final_hidden and final_cell (or NULL) receive copies of them after
 * the last step. */
typedef struct {
    int32_t time_steps, batches, input_size, units;
    int32_t reset_state;     /* 1: h and c start every invocation at their zero points (an ONNX LSTM) */
    int32_t reverse;         /* 1: the steps run from the last to the first (ONNX's reverse direction) */
    int32_t time_major; /* 1: input [T, B, I], output [T, B, N]; 0: [B, T, I], [B, T, N] */
    float cell_clip;    /* > 0: |c| clamped to it */
    const float *input_weights[4];     /* [units, input_size] each */
    const float *recurrent_weights[4]; /* [units, units] each */
    const float *bias[4];              /* [units] each */
} edgec_lstm_f32_params;

void edgec_lstm_f32(const edgec_lstm_f32_params *p, const float *input, float *hidden, float *cell, float *output,
                    float *final_hidden, float *final_cell);

#endif
