#include "hard_sigmoid_s8.h"

void edgec_hard_sigmoid_s8(int32_t size, const int8_t *table, const int8_t *input, int8_t *output) {
    for (int32_t i = 0; i < size; i++) output[i] = table[(int32_t)input[i] + 128];
}
