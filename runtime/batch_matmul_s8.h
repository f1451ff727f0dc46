#ifndef EDGEC_BATCH_MATMUL_S8_H
#define EDGEC_BATCH_MATMUL_S8_H
#include <stdint.h>

/* int8 BATCH_MATMUL (TFLite Micro's EvalInt8): the geometry of batch_matmul_f32.h, the operands' offsets
 * (-zero point), the output zero point and one per-tensor (multiplier, shift); no bias, no fused activation. */
typedef struct {
    int32_t batch[3];
    int32_t a_stride[3], b_stride[3];
    int32_t rows, depth, cols;
    int32_t adj_x, adj_y;
    int32_t lhs_offset, rhs_offset, output_offset;
    int32_t multiplier, shift;
} edgec_batch_matmul_s8_params;

void edgec_batch_matmul_s8(const edgec_batch_matmul_s8_params *p, const int8_t *a, const int8_t *b, int8_t *y);

#endif
