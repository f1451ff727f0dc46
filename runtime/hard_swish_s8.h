#ifndef EDGEC_HARD_SWISH_S8_H
#define EDGEC_HARD_SWISH_S8_H
#include <stdint.h>

/* int8 HARD_SWISH, y = x * relu6(x + 3) / 6, in TFLite Micro's 16-bit fixed point (see hard_swish_s8.c) */
typedef struct {
    int32_t size;
    int32_t input_offset;       /* zp_x */
    int32_t output_offset;      /* zp_y */
    int32_t output_multiplier;  /* Q0.15: (s_x / 128) / s_y = output_multiplier * 2^(output_shift - 15) */
    int32_t output_shift;       /* <= 0 */
    int32_t reluish_multiplier; /* Q0.15: (s_x / 128) / (3 / 2^15) */
    int32_t reluish_shift;
} edgec_hard_swish_s8_params;

void edgec_hard_swish_s8(const edgec_hard_swish_s8_params *p, const int8_t *input, int8_t *output);

#endif
