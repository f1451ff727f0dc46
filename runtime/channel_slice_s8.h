/* channel_slice_s8.h - the first `channels` channels of each pixel of an int8 tensor (training graphs: the
 * input channels a partially trained conv's weight gradient reads, saved for the backward pass).
 *
 *     out[q * channels + c] = in[q * in_c + c]      q < pixels, c < channels
 *
 * Cost: one byte copied per output element (memcpy of `channels` bytes per pixel).
 */
#ifndef EDGEC_CHANNEL_SLICE_S8_H
#define EDGEC_CHANNEL_SLICE_S8_H

#include <stdint.h>

void edgec_channel_slice_s8(int32_t pixels, int32_t in_c, int32_t channels, const int8_t *in, int8_t *out);

#endif
