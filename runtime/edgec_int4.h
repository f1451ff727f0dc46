/* edgec_int4.h - TFLite's packed int4 weights (TensorType INT4), read by the *_s4 kernels.
 *
 * Two values per byte in row-major flat order: element k is the LOW nibble of byte k/2 when k is even, the HIGH
 * nibble when k is odd (an odd count leaves the high nibble of the last byte unused). A nibble v in 0..15 is the
 * two's-complement value (v ^ 8) - 8 in [-8, 7]: the sign extension written without a signed shift.
 * Cost: 4 operations per value (load byte, shift or mask, xor, subtract) and a store to the row buffer.
 */
#ifndef EDGEC_INT4_H
#define EDGEC_INT4_H

#include <stdint.h>

static inline int8_t edgec_s4_at(const uint8_t *packed, int32_t k) {
    const int32_t byte = packed[k >> 1];
    const int32_t nibble = (k & 1) ? (byte >> 4) : (byte & 0x0F);
    return (int8_t)((nibble ^ 8) - 8);
}

/* out[j] = element (start + j * stride) of the packed tensor, j = 0 .. count - 1 */
static inline void edgec_s4_unpack(const uint8_t *packed, int32_t start, int32_t stride, int32_t count,
                                   int8_t *out) {
    for (int32_t j = 0; j < count; j++) out[j] = edgec_s4_at(packed, start + j * stride);
}

#endif
