#include "clamp_mask.h"

#include "edgec_train.h" /* edgec_mask_bit */

void edgec_clamp_mask(const edgec_clamp_mask_params *p, const int8_t *q, uint8_t *mask) {
    for (int32_t base = 0; base < p->size; base += 8) {
        uint32_t byte = 0;
        const int32_t n = p->size - base < 8 ? p->size - base : 8;
        for (int32_t k = 0; k < n; k++) {
            const int32_t v = q[base + k];
            byte |= (uint32_t)(v > p->act_min && v < p->act_max) << k;
        }
        mask[base >> 3] = (uint8_t)byte;
    }
}

void edgec_apply_mask(int32_t size, const float *g, const uint8_t *mask, float *g_out) {
    for (int32_t e = 0; e < size; e++) g_out[e] = edgec_mask_bit(mask, e) ? g[e] : 0.0f;
}

void edgec_apply_mask_f16(int32_t size, const uint16_t *g, const uint8_t *mask, uint16_t *g_out) {
    for (int32_t e = 0; e < size; e++) g_out[e] = edgec_mask_bit(mask, e) ? g[e] : (uint16_t)0u;
}
