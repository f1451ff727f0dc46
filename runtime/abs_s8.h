#ifndef EDGEC_ABS_S8_H
#define EDGEC_ABS_S8_H
#include <stdint.h>

/* int8 ABS as TFLite Micro runs it, v = |x - zp_x| (0..255):
 *   y = clamp(zp_y + v, -128, 127)                     rescale == 0 (s_x == s_y)
 *   y = clamp(zp_y + MBQM(v, M, shift), -128, 127)     rescale == 1, M, shift = QuantizeMultiplier(s_x / s_y)
 * Cost per element: a subtract, an absolute value and a clamp, plus one fixed-point multiply when rescaling. */
typedef struct {
    int32_t size;
    int32_t input_offset;  /* zp_x */
    int32_t output_offset; /* zp_y */
    int32_t rescale;       /* 0: the scales are equal */
    int32_t multiplier, shift;
} edgec_abs_s8_params;

void edgec_abs_s8(const edgec_abs_s8_params *p, const int8_t *input, int8_t *output);

#endif
