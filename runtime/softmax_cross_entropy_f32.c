#include "softmax_cross_entropy_f32.h"

#include <math.h>

#include "edgec_train.h"

void edgec_softmax_cross_entropy_f32(int32_t classes, const float *logits, const int32_t *label, float *loss,
                                     float *grad) {
    float m = logits[0];
    for (int32_t k = 1; k < classes; k++) m = logits[k] > m ? logits[k] : m;
    float s = 0.0f;
    for (int32_t k = 0; k < classes; k++) {
        grad[k] = edgec_expf(logits[k] - m);
        s = s + grad[k];
    }
    for (int32_t k = 0; k < classes; k++) grad[k] = grad[k] / s;
    const int32_t y = *label;
    const int inside = y >= 0 && y < classes;
    if (inside) grad[y] = grad[y] - 1.0f;
    *loss = (float)(log((double)s) - (double)(inside ? logits[y] - m : 0.0f));
}
