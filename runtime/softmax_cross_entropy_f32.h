/* softmax_cross_entropy_f32.h - a classifier's loss and its gradient (training graphs).
 *
 *     m = max z;  e_k = edgec_expf(z_k - m);  s = sum_k e_k;  g_k = e_k / s - [k == label]
 *     loss = logf(s) - (z_label - m)
 *
 * Cost: about 40 instructions per class (one edgec_expf, one division), once per training step.
 */
#ifndef EDGEC_SOFTMAX_CROSS_ENTROPY_F32_H
#define EDGEC_SOFTMAX_CROSS_ENTROPY_F32_H

#include <stdint.h>

void edgec_softmax_cross_entropy_f32(int32_t classes, const float *logits, const int32_t *label, float *loss,
                                     float *grad);

#endif
