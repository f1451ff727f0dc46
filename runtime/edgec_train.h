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
 * Momentum M (a velocity v per trained parameter, NULL when M = 0):  v <- M * v + clamp(step), then the step
 * applied is v (clamped again by the rule). fp32 shadow weights (a float s per trained weight, NULL when off):
 *     s <- clamp(s + clamp(step), -127, 127),  w <- rnd(s)
 * Both add ~4 instructions per weight (a load, a multiply-add as two operations, a store).
 */
#ifndef EDGEC_TRAIN_H
#define EDGEC_TRAIN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* fp16 gradient storage (edgec train --gradients fp16; docs/training.md, "fp16 gradients"): a gradient is stored
 * as the IEEE binary16 bits in a uint16_t and computed in float32. Integer C, so every target (and the numpy
 * twin, numpy's float32 -> float16 cast) gives the same bits: float -> half rounds to nearest, ties to even, with
 * subnormals, overflow to infinity (|f| >= 65520), a NaN keeps its top 10 significand bits (1 if they are 0); half -> float is exact. ~12-20 integer
 * instructions per conversion. */
static inline uint16_t edgec_float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    const uint32_t sign = (x >> 16) & 0x8000u, a = x & 0x7fffffffu;
    if (a > 0x7f800000u) { /* NaN: its top 10 significand bits, and never the infinity's (numpy's rule) */
        const uint32_t m = (a >> 13) & 0x3ffu;
        return (uint16_t)(sign | 0x7c00u | (m ? m : 1u));
    }
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);      /* rounds to more than 65504 */
    if (a >= 0x38800000u) {                                      /* a normal half: rebias, round at bit 13 */
        const uint32_t m = a - 0x38000000u;
        return (uint16_t)(sign | ((m + 0xfffu + ((m >> 13) & 1u)) >> 13));
    }
    if (a <= 0x33000000u) return (uint16_t)sign;                 /* at most 2^-25: to zero (2^-25 ties to even) */
    {                                                            /* a subnormal half: units of 2^-24 */
        const uint32_t shift = 126u - (a >> 23), m = (a & 0x7fffffu) | 0x800000u;
        const uint32_t q = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
        return (uint16_t)(sign | (q + (rem > half || (rem == half && (q & 1u)))));
    }
}

static inline float edgec_half_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu, x;
    if (e == 0x1fu) {
        x = sign | 0x7f800000u | (m << 13);
    } else if (e != 0u) {
        x = sign | ((e + 112u) << 23) | (m << 13);
    } else if (m == 0u) {
        x = sign;
    } else { /* subnormal: normalize */
        e = 113u;
        while (!(m & 0x400u)) {
            m <<= 1;
            e--;
        }
        x = sign | (e << 23) | ((m & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

/* the bit of element e in a clamp mask (runtime/clamp_mask.c writes them: byte e >> 3, bit e & 7) */
static inline int32_t edgec_mask_bit(const uint8_t *mask, int32_t e) { return (mask[e >> 3] >> (e & 7)) & 1; }

/* the output coordinate that reads input coordinate `in` through tap k of a sliding window, or -1 (the backward
 * kernels of conv and depthwise walk the taps from the input side) */
static inline int32_t edgec_output_of_tap(int32_t in, int32_t k, int32_t stride, int32_t dilation, int32_t pad,
                                          int32_t out) {
    const int32_t t = in + pad - k * dilation;
    if (t < 0 || t % stride != 0 || t / stride >= out) return -1;
    return t / stride;
}

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

/* v <- momentum * v + clamp(step): two float32 operations in that order (built with -ffp-contract=off); returns v */
static inline float edgec_momentum(float *v, float momentum, float step, float limit) {
    const float next = momentum * *v + edgec_clamp_step(step, limit);
    *v = next;
    return next;
}

/* the shadow s <- clamp(s + clamp(step), -127, 127); the weight is rnd(s), in [-127, 127] */
static inline int8_t edgec_update_shadow(float *shadow, float step) {
    float s = *shadow + edgec_clamp_step(step, 255.0f);
    s = s < -127.0f ? -127.0f : (s > 127.0f ? 127.0f : s);
    *shadow = s;
    return (int8_t)edgec_rnd(s);
}

/* One trained int8 weight: the velocity (when not NULL) takes the step, the shadow (when not NULL) takes the
 * velocity or the step and gives the weight; else the step (or velocity) is rounded into w by `rounding`. */
static inline int8_t edgec_update_weight(int8_t w, float step, int32_t rounding, float momentum, float *velocity,
                                         float *shadow, uint32_t *rng) {
    if (velocity) step = edgec_momentum(velocity, momentum, step, 255.0f);
    if (shadow) return edgec_update_shadow(shadow, step);
    return rounding ? edgec_update_stochastic(w, step, rng) : edgec_update_nearest(w, step);
}

/* edgec_expf: exp(x) in float32 operations only, the same bits on the host and every core (no libm: libm's expf
 * differs between glibc and newlib in the last bit, and a training step must be reproducible bit for bit).
 * x = k ln2 + r with k = round(x / ln2) (half away from zero), ln2 split in a short high part (exact k * hi
 * for |k| <= 2^11) and a low part, |r| <= ln2 / 2; exp(r) by its Taylor polynomial of degree 7 (Horner; relative
 * error under 2e-7 here), times 2^k built in the exponent bits. x < -87 gives 0, x > 88 is clamped to 88.
 * The numpy twin is toolchain/train/update.py's expf. Cost: about 25 instructions with an FPU. */
static inline float edgec_expf(float x) {
    union {
        float f;
        uint32_t u;
    } two_k;
    if (!(x > -87.0f)) return 0.0f; /* also NaN */
    if (x > 88.0f) x = 88.0f;
    const float t = x * 1.44269502f; /* 1 / ln2 */
    const int32_t k = (int32_t)(t + (t < 0.0f ? -0.5f : 0.5f));
    float r = x - (float)k * 0.693145751953125f; /* ln2 high part: 16 significant bits */
    r = r - (float)k * 1.42860677e-06f;           /* ln2 low part */
    float p = 1.98412698e-04f;                    /* 1/7! */
    p = p * r + 1.38888889e-03f;                  /* 1/6! */
    p = p * r + 8.33333377e-03f;                  /* 1/5! */
    p = p * r + 4.16666679e-02f;                  /* 1/4! */
    p = p * r + 1.66666672e-01f;                  /* 1/3! */
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    two_k.u = (uint32_t)(k + 127) << 23; /* k in [-126, 127] */
    return p * two_k.f;
}

#endif
