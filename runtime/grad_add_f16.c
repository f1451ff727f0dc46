#include "grad_add_f16.h"

#include "edgec_train.h" /* the fp16 conversions */

void edgec_grad_add_f16(int32_t size, const uint16_t *a, const uint16_t *b, uint16_t *g) {
    for (int32_t e = 0; e < size; e++) g[e] = edgec_float_to_half(edgec_half_to_float(a[e]) + edgec_half_to_float(b[e]));
}
