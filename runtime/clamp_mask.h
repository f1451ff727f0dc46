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


#endif
