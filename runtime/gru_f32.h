#ifndef EDGEC_GRU_F32_H
#define EDGEC_GRU_F32_H
#include <stdint.h>

#include "edgec_float.h"

/* float32 GRU (ONNX's, gate order z, r, h); hidden [batches, units] kept by the caller between invocations;
 * final_hidden (or NULL) receives a copy of it after the last step; scratch: units floats when
 * linear_before_reset is 0 (else NULL). */
typedef struct {
    int32_t time_steps, batches, input_size, units;
    int32_t reset_state;         /* 1: h starts every invocation at 0 (an ONNX GRU) */
    int32_t time_major;          /* 1: input [T, B, I], output [T, B, N]; 0: [B, T, I], [B, T, N] */
    int32_t linear_before_reset; /* 1: c = tanh(W_h x + Wb_h + r o (R_h h + Rb_h)); 0: R_h (r o h) + Rb_h */
    int32_t reverse;             /* 1: the steps run from the last to the first (ONNX's reverse direction) */
    const float *input_weights[3];     /* [units, input_size] each */
    const float *recurrent_weights[3]; /* [units, units] each */
    const float *input_bias[3];        /* [units] each */
    const float *recurrent_bias[3];    /* [units] each */
} edgec_gru_f32_params;

void edgec_gru_f32(const edgec_gru_f32_params *p, const float *input, float *hidden, float *output,
                   float *final_hidden, float *scratch);

#endif
