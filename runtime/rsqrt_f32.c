/* RSQRT, float32: y = 1.0f / sqrtf(x), a correctly rounded square root then a correctly rounded division (IEEE
 * float32 each): bit-identical to any implementation doing these two operations. x < 0 gives NaN, 0 gives +inf.
 * Cost per element: one square root, one division. */
#include "rsqrt_f32.h"

#include <math.h>

void edgec_rsqrt_f32(int32_t size, const float *input, float *output) {
    for (int32_t i = 0; i < size; i++) output[i] = 1.0f / sqrtf(input[i]);
}
