#ifndef EDGEC_ATTENTION_S8_H
#define EDGEC_ATTENTION_S8_H
#include <stdint.h>

#include "softmax_s8.h"

/* int8 attention, one query row at a time, with the constants of the chain it replaces (batch_matmul_s8 ->
 * [mul_s8 by an int8 scalar] -> softmax_s8 -> batch_matmul_s8); the geometry as in attention_f32.h. `row` is
 * scratch for M bytes. */
typedef struct {
    int32_t batch[3];
    int32_t q_stride[3], k_stride[3], v_stride[3];
    int32_t rows, depth, keys, cols;
    int32_t adj_k, adj_v;
    int32_t q_offset, k_offset, s_offset, s_multiplier, s_shift;
    int32_t has_mul, mul_term, mul_offset, mul_out_offset, mul_multiplier, mul_shift, mul_min, mul_max;
    int32_t input_multiplier, input_left_shift, diff_min;
    int32_t p_offset, v_offset, y_offset, y_multiplier, y_shift;
} edgec_attention_s8_params;

void edgec_attention_s8(const edgec_attention_s8_params *p, const int8_t *q, const int8_t *k, const int8_t *v,
                        int8_t *y, int8_t *row);

#endif
