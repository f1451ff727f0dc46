/* y[i] = table[x[i] + 128]: any int8 -> int8 elementwise function whose exact integer maths the compiler ran for
 * all 256 inputs (e.g. RSQRT: ops/rsqrt.py). Cost per element: one load, one table load, one store. In place
 * (output == input) is fine: each element is read before it is written. */
#include "lut_s8.h"

void edgec_lut_s8(int32_t size, const int8_t *table, const int8_t *input, int8_t *output) {
    for (int32_t i = 0; i < size; i++) output[i] = table[(int32_t)input[i] + 128];
}
