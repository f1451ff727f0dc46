/* grad_add_f16.h - the sum of two fp16-stored gradient contributions (training graphs, --gradients fp16).
 *
 *     g[e] = half(float(a[e]) + float(b[e]))        (edgec_train.h: exact half -> float, round to nearest even)
 *
 * Cost: two conversions from half, one float add, one conversion to half per element (~35 instructions).
 * g may be a or b (in place).
 */
#ifndef EDGEC_GRAD_ADD_F16_H
#define EDGEC_GRAD_ADD_F16_H
#include <stdint.h>

void edgec_grad_add_f16(int32_t size, const uint16_t *a, const uint16_t *b, uint16_t *g);

#endif
