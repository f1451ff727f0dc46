/* edgec_float.h - what the float32 kernels (*_f32.c) share.
 *
 * Numerics: plain float arithmetic without fused multiply-add (edgec compiles with -ffp-contract=off, so a*b+c
 * is never contracted into an FMA; build these files with that flag too), each sum accumulated in one float in
 * the order its kernel documents. That order is TFLite's reference order, so with the same libm the results
 * equal TFLite's float kernels to the bit; docs/numerics.md ("Float32") gives the measured errors and the
 * tolerance. */
#ifndef EDGEC_FLOAT_H
#define EDGEC_FLOAT_H

#include <math.h> /* expf, tanhf; HUGE_VALF for unbounded clamps in the generated parameter structs */

/* A fused activation (or RELU / Clip) as a clamp to [lo, hi]; NaN passes through, as with TFLite's min/max. */
static inline float edgec_clampf(float x, float lo, float hi) {
    return x < lo ? lo : (x > hi ? hi : x);
}

#endif
