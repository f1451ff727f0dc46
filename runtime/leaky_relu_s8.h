#ifndef EDGEC_LEAKY_RELU_S8_H
#define EDGEC_LEAKY_RELU_S8_H
#include <stdint.h>

/* int8 LEAKY_RELU as TFLite Micro runs it, v = x - zp_x:
 *   y = clamp(zp_y + MBQM(v, M_id, shift_id), -128, 127)                      v >= 0
 *   y = clamp(zp_y + sign(M_a) * MBQM(v, |M_a|, shift_a), -128, 127)         v <  0  (M_a < 0: alpha < 0) */
typedef struct {
    int32_t size;
    int32_t input_offset;  /* zp_x */
    int32_t output_offset; /* zp_y */
    int32_t multiplier_identity, shift_identity; /* s_x / s_y */
    int32_t multiplier_alpha, shift_alpha;       /* s_x * alpha / s_y, sign included */
} edgec_leaky_relu_s8_params;

void edgec_leaky_relu_s8(const edgec_leaky_relu_s8_params *p, const int8_t *input, int8_t *output);

#endif
