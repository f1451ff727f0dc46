/* edgec_train.h - applying a training step to stored int8 weights and int32 biases (sparse-update training).
 *
 * The numpy twin, with the maths and its reasons, is toolchain/train/update.py; docs/training.md states the
 * contract. A step is a float32 number of LSB (the compiler's QAS factors already applied):
 *     nearest     w <- clamp(w + rnd(step), -127, 127)
 *     stochastic  w <- clamp(w + floor(step) + (u < step - floor(step)), -127, 127), u = (x >> 8) * 2^-24
 *     bias        b <- clamp(b + rnd(step), -bmax, bmax)
 * Steps are clamped first (weights [-255, 255], biases [-2^30, 2^30]; NaN is 0), so every conversion to an
 * integer is in range: no undefined behaviour for any float input. rnd rounds half away from zero using float32
 * operations only (exact for |t| < 2^23), so the host and every core give the same bits.
 * Cost per weight: nearest ~8 instructions; stochastic adds the xorshift32 draw (6) and a compare.
 */
#ifndef EDGEC_TRAIN_H
#define EDGEC_TRAIN_H

#include <stdint.h>

static inline float edgec_clamp_step(float step, float limit) {
    if (!(step == step)) return 0.0f; /* NaN */
    return step < -limit ? -limit : (step > limit ? limit : step);
}

/* half away from zero; |t| <= 2^30 after the clamps, so (int32_t)a is in range */
static inline int32_t edgec_rnd(float t) {
    const float a = t < 0.0f ? -t : t;
    const int32_t i = (int32_t)a;
    const int32_t r = i + (a - (float)i >= 0.5f);
    return t < 0.0f ? -r : r;
}

/* floor for |t| <= 255 */
static inline int32_t edgec_floor_step(float t) {
    const int32_t i = (int32_t)t; /* toward zero */
    return (float)i > t ? i - 1 : i;
}

static inline int8_t edgec_weight_clamp(int32_t w) { return (int8_t)(w < -127 ? -127 : (w > 127 ? 127 : w)); }

static inline int8_t edgec_update_nearest(int8_t w, float step) {
    return edgec_weight_clamp((int32_t)w + edgec_rnd(edgec_clamp_step(step, 255.0f)));
}

/* xorshift32; *state must be non-zero (the compiler seeds it from --seed) */
static inline uint32_t edgec_xorshift32(uint32_t *state) {
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

static inline int8_t edgec_update_stochastic(int8_t w, float step, uint32_t *state) {
    const float s = edgec_clamp_step(step, 255.0f);
    const int32_t fl = edgec_floor_step(s);
    const float u = (float)(edgec_xorshift32(state) >> 8) * (1.0f / 16777216.0f); /* exact: 24 bits */
    return edgec_weight_clamp((int32_t)w + fl + (u < s - (float)fl));
}

static inline int32_t edgec_update_bias(int32_t b, float step, int32_t bmax) {
    const int64_t v = (int64_t)b + edgec_rnd(edgec_clamp_step(step, 1073741824.0f));
    return (int32_t)(v < -(int64_t)bmax ? -(int64_t)bmax : (v > bmax ? bmax : v));
}

#endif
