#include "resize_nearest.h"
#include <string.h>

/* copies one row of `channels` elements of `elem_size` bytes per output pixel */
static void resize_nearest(const edgec_resize_nearest_params *p, const uint8_t *input, uint8_t *output,
                           size_t elem_size) {
    const size_t pixel = (size_t)p->channels * elem_size;
    for (int32_t b = 0; b < p->batches; b++) {
        const uint8_t *image = input + (size_t)b * (size_t)p->in_h * (size_t)p->in_w * pixel;
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            const uint8_t *row = image + (size_t)p->y_index[oy] * (size_t)p->in_w * pixel;
            for (int32_t ox = 0; ox < p->out_w; ox++) {
                memcpy(output, row + (size_t)p->x_index[ox] * pixel, pixel);
                output += pixel;
            }
        }
    }
}

void edgec_resize_nearest_s8(const edgec_resize_nearest_params *p, const int8_t *input, int8_t *output) {
    resize_nearest(p, (const uint8_t *)input, (uint8_t *)output, sizeof(int8_t));
}

void edgec_resize_nearest_f32(const edgec_resize_nearest_params *p, const float *input, float *output) {
    resize_nearest(p, (const uint8_t *)input, (uint8_t *)output, sizeof(float));
}
