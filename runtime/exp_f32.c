/* EXP, float32: y = expf(x), the C library's float exponential, once per element (cost: one expf). In place
 * (output == input) is fine: each element is read before it is written. */
#include "exp_f32.h"

#include <math.h>

void edgec_exp_f32(int32_t size, const float *input, float *output) {
    for (int32_t i = 0; i < size; i++) output[i] = expf(input[i]);
}
