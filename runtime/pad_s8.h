#ifndef EDGEC_PAD_S8_H
#define EDGEC_PAD_S8_H
#include <stdint.h>

/* int8 PAD / PADV2 over up to 5 dimensions (shapes extended with leading 1s to exactly 5). Bytes are copied
 * unchanged (TFLite does not rescale); padded positions get pad_value (the output zero point for PAD, the
 * constant for PADV2). Output dim d = before[d] + in_dims[d] + after[d]. */
typedef struct {
    int32_t in_dims[5];
    int32_t before[5];
    int32_t after[5];
    int32_t pad_value;
} edgec_pad_s8_params;

void edgec_pad_s8(const edgec_pad_s8_params *p, const int8_t *input, int8_t *output);

#endif
