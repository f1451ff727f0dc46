#ifndef EDGEC_PAD_S16_H
#define EDGEC_PAD_S16_H
#include <stdint.h>

/* 16x8 PAD / PADV2 (int16) over up to 5 dimensions (shapes extended with leading 1s to exactly 5). Values are
 * copied unchanged (TFLite does not rescale); padded positions get pad_value (the output zero point for PAD, 0 in
 * the 16x8 spec; the constant for PADV2). Output dim d = before[d] + in_dims[d] + after[d]. */
typedef struct {
    int32_t in_dims[5];
    int32_t before[5];
    int32_t after[5];
    int32_t pad_value;
} edgec_pad_s16_params;

void edgec_pad_s16(const edgec_pad_s16_params *p, const int16_t *input, int16_t *output);

#endif
