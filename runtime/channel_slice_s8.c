#include <string.h>

#include "channel_slice_s8.h"

void edgec_channel_slice_s8(int32_t pixels, int32_t in_c, int32_t channels, const int8_t *in, int8_t *out) {
    for (int32_t q = 0; q < pixels; q++) memcpy(out + q * channels, in + q * in_c, (size_t)channels);
}
