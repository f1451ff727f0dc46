/* clamp_mask.h - the 1-bit gradient mask of an int8 layer's output clamp (training graphs).
 *
 *     bit e = act_min < q[e] < act_max,  byte e >> 3, bit e & 7 (least significant first)
 *
 *     apply:  g_out[e] = bit e ? g[e] : 0.0f
 *
 * Cost: about 4 instructions per element (load, two compares, or into the byte); ceil(size / 8) bytes written.
 */
#ifndef EDGEC_CLAMP_MASK_H
#define EDGEC_CLAMP_MASK_H

#include <stdint.h>

typedef struct {
    int32_t size;
    int32_t act_min, act_max;
} edgec_clamp_mask_params;

void edgec_clamp_mask(const edgec_clamp_mask_params *p, const int8_t *q, uint8_t *mask);

/* g_out[e] = mask bit e ? g[e] : 0 (the gradient through the clamp); g_out may be g */
void edgec_apply_mask(int32_t size, const float *g, const uint8_t *mask, float *g_out);
/* the same on fp16-stored gradients (edgec_train.h): a masked element is +0 (0x0000), the others are copied */
void edgec_apply_mask_f16(int32_t size, const uint16_t *g, const uint8_t *mask, uint16_t *g_out);


#endif
