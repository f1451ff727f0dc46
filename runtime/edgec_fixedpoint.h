/* edgec_fixedpoint.h - TFLite's integer rescaling, the C twin of toolchain/fixedpoint.py.
 *
 * A real multiplier r is stored as (M, shift) with r = M * 2^(shift-31), M in [2^30, 2^31).
 * Rescaling x by r rounds twice, exactly like TFLite Micro's reference kernels:
 *     MBQM(x, M, shift) = RDBPOT(SRDHM(x * 2^max(shift,0), M), max(-shift,0))
 * SRDHM(a, b) = (a*b + nudge) / 2^31 truncated toward zero, nudge = 2^30 (a*b >= 0) or 1 - 2^30 (a*b < 0):
 *               nearest, ties toward +infinity; saturates the one overflow case INT32_MIN * INT32_MIN.
 * RDBPOT(x, e) = x / 2^e rounded half away from zero.
 * Signed right shifts are arithmetic on every compiler edgec supports (gcc, clang, arm-none-eabi-gcc).
 */
#ifndef EDGEC_FIXEDPOINT_H
#define EDGEC_FIXEDPOINT_H

#include <stdint.h>

/* TFLite's (a*b + nudge) / 2^31 truncated toward zero, with nudge 2^30 when a*b >= 0 and 1 - 2^30 when a*b < 0,
 * is floor((a*b + 2^30) / 2^31) for both signs: for a*b < 0 the dividend t = a*b + 1 - 2^30 is negative, and
 * truncating t / 2^31 is ceil(t / 2^31) = floor((t + 2^31 - 1) / 2^31) = floor((a*b + 2^30) / 2^31). One form
 * without a branch on the sign: a 32x32->64 multiply, an add and a shift (SMULL, ADDS/ADC, LSR/ORR on Arm). */
static inline int32_t edgec_srdhm(int32_t a, int32_t b) {
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
}

static inline int32_t edgec_rounding_divide_by_pot(int32_t x, int exponent) {
    int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

static inline int32_t edgec_mbqm(int32_t x, int32_t multiplier, int shift) {
    int left = shift > 0 ? shift : 0;
    int right = shift > 0 ? 0 : -shift;
    /* x * 2^left, wrapping like TFLite's int32 multiply (done unsigned: signed overflow is UB in C) */
    int32_t shifted = (int32_t)((uint32_t)x << left);
    return edgec_rounding_divide_by_pot(edgec_srdhm(shifted, multiplier), right);
}

static inline int32_t edgec_clamp(int32_t x, int32_t lo, int32_t hi) {
    return x < lo ? lo : (x > hi ? hi : x);
}

static inline int32_t edgec_min(int32_t a, int32_t b) { return a < b ? a : b; }
static inline int32_t edgec_max(int32_t a, int32_t b) { return a > b ? a : b; }

/* ---- onnxruntime's requantization (MLAS MlasRequantizeOutput), in integers; twin of toolchain/fixedpoint.py ----
 * onnxruntime rescales an int32 accumulator in float32: y = round_half_even(float(acc) * scale), two float32
 * roundings (int32 -> float, then the product) before the rounding to an integer. The compiler splits the float32
 * scale into scale = m * 2^e with m a 24-bit integer (its mantissa); the kernel then redoes the float32 arithmetic
 * exactly on int64: float(acc) is acc rounded to 24 significant bits, the product a * m (< 2^55) is exact and its
 * float32 value is it rounded to 24 significant bits, and the result is that times 2^e rounded half to even.
 * Exact while the product is a normal float32 (|scale| >= 2^-126 / 2^31: every real model's scales). */

/* x / 2^n rounded to nearest, ties to even, for n >= 1 and |x| < 2^61 */
static inline int64_t edgec_rounding_rshift_even64(int64_t x, int n) {
    if (n >= 62) return 0; /* |x| < 2^61 <= 2^(n-1): below one half */
    const int64_t half = (int64_t)1 << (n - 1);
    const int64_t remainder = x & (((int64_t)1 << n) - 1); /* x - floor(x / 2^n) * 2^n, in [0, 2^n) */
    const int64_t floor_q = x >> n;
    return floor_q + ((remainder > half || (remainder == half && (floor_q & 1))) ? 1 : 0);
}

/* x rounded to 24 significant bits, ties to even: the value of (float)x, for |x| < 2^61 */
static inline int64_t edgec_round_to_float32(int64_t x) {
    const uint64_t mag = (uint64_t)(x < 0 ? -x : x);
    int bits = 0;
    for (int step = 32; step > 0; step >>= 1) { /* bit length of |x| by binary search */
        if ((mag >> bits) >> step) bits += step;
    }
    if (mag >> bits) bits += 1;
    if (bits <= 24) return x;
    const int drop = bits - 24;
    return edgec_rounding_rshift_even64(x, drop) * ((int64_t)1 << drop);
}

/* round_half_even((float)((float)acc * scale)) with scale = m * 2^e (m in [2^23, 2^24)), saturated to +-2^24
 * (any value that large is clamped to the output range anyway) */
static inline int32_t edgec_requantize_f32(int32_t acc, int32_t m, int e) {
    const int64_t product = edgec_round_to_float32(edgec_round_to_float32(acc) * (int64_t)m);
    if (e >= 0) return product == 0 ? 0 : (product > 0 ? (1 << 24) : -(1 << 24)); /* |product| >= 2^23 */
    const int64_t y = edgec_rounding_rshift_even64(product, -e);
    return (int32_t)(y > (1 << 24) ? (1 << 24) : (y < -(1 << 24) ? -(1 << 24) : y));
}

/* onnxruntime's rescale kept out of line: it is the rare path (QDQ ONNX models only). Inlined into every conv's
 * output loop it cost TFLite models 2.3 % more instructions (vww_96_int8 on Cortex-M4: 84,508,527 -> 86,464,046);
 * out of line, the per-output test of `rounding` costs 0.8 % (85,173,235). */
#if defined(__GNUC__)
__attribute__((noinline, cold, unused))
#endif
static int32_t edgec_requantize_f32_cold(int32_t acc, int32_t m, int32_t e) {
    return edgec_requantize_f32(acc, m, e);
}

/* the requantization of the conv-like kernels: TFLite's (rounding 0, the default) or onnxruntime's (1) */
static inline int32_t edgec_requantize(int32_t acc, int32_t multiplier, int32_t shift, int32_t rounding) {
    return rounding ? edgec_requantize_f32_cold(acc, multiplier, shift) : edgec_mbqm(acc, multiplier, shift);
}

/* a + b, a - b, -a with two's-complement wraparound, as TFLite's and gemmlowp's int32 arithmetic behaves on every
 * target (signed overflow is UB in C, so it is done unsigned; converting back to int32_t is modulo 2^32 on
 * gcc/clang). */
static inline int32_t edgec_wrap_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static inline int32_t edgec_wrap_sub(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }
static inline int32_t edgec_wrap_neg(int32_t a) { return (int32_t)(0u - (uint32_t)a); }

/* ---- gemmlowp fixed-point transcendentals (softmax, logistic, tanh), twin of toolchain/fixedpoint.py ----------
 * A Q(m) value is an int32 raw with real = raw / 2^(31-m). Products are SRDHM; plain + and - wrap around
 * (edgec_wrap_*); multiplying by a power of two saturates going left and rounds half away from zero going right.
 */

/* x * 2^exponent: saturating left shift for exponent > 0, rounding right shift for exponent < 0 */
static inline int32_t edgec_sat_rounding_mul_by_pot(int32_t x, int exponent) {
    if (exponent < 0) return edgec_rounding_divide_by_pot(x, -exponent);
    if (exponent == 0) return x;
    const int32_t threshold = (int32_t)(((int64_t)1 << (31 - exponent)) - 1);
    if (x > threshold) return INT32_MAX;
    if (x < -threshold) return INT32_MIN;
    return (int32_t)((uint32_t)x << exponent);
}

/* (a + b) / 2 rounded half away from zero */
static inline int32_t edgec_rounding_half_sum(int32_t a, int32_t b) {
    const int64_t sum = (int64_t)a + (int64_t)b;
    return (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
}

/* leading zero bits of x as a 32-bit unsigned value (32 for 0) */
static inline int edgec_clz32(uint32_t x) {
    int n = 0;
    if (x == 0) return 32;
    while (!(x & 0x80000000u)) { x <<= 1; n++; }
    return n;
}

/* exp(a) for a in [-1/4, 0), Q0.31: e^(-1/8) * (1 + x + x^2/2 + x^3/6 + x^4/24) with x = a + 1/8,
 * the tail evaluated as ((x^4/4 + x^3) / 3 + x^2) / 2 */
static inline int32_t edgec_exp_on_interval_minus_quarter_to_zero(int32_t a) {
    const int32_t exp_minus_one_eighth = 1895147668, one_third = 715827883;
    const int32_t x = edgec_wrap_add(a, 1 << 28);
    const int32_t x2 = edgec_srdhm(x, x);
    const int32_t x3 = edgec_srdhm(x2, x);
    const int32_t x4 = edgec_srdhm(x2, x2);
    const int32_t x4_over_4 = edgec_sat_rounding_mul_by_pot(x4, -2);
    const int32_t poly = edgec_sat_rounding_mul_by_pot(
        edgec_wrap_add(edgec_srdhm(edgec_wrap_add(x4_over_4, x3), one_third), x2), -1);
    return edgec_wrap_add(exp_minus_one_eighth, edgec_srdhm(exp_minus_one_eighth, edgec_wrap_add(x, poly)));
}

/* exp(a) for a <= 0 given in Q(integer_bits), result in Q0.31. a = q + r with r in [-1/4, 0): exp(r) from the
 * polynomial above, then every set bit 2^k of -q multiplies by the constant exp(-2^k). */
static inline int32_t edgec_exp_on_negative_values(int32_t a, int integer_bits) {
    static const int32_t exp_minus_pot[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int frac = 31 - integer_bits;
    const int32_t quarter = (int32_t)1 << (frac - 2);
    const int32_t a_mod_quarter_minus_quarter = (a & (quarter - 1)) - quarter;
    int32_t result = edgec_exp_on_interval_minus_quarter_to_zero(
        edgec_sat_rounding_mul_by_pot(a_mod_quarter_minus_quarter, integer_bits));
    const int32_t remainder = edgec_wrap_sub(a_mod_quarter_minus_quarter, a);
    for (int k = -2; k <= 4; k++) {
        if (integer_bits > k && (remainder & ((int32_t)1 << (frac + k))))
            result = edgec_srdhm(result, exp_minus_pot[k + 2]);
    }
    if (integer_bits > 5 && a < -((int32_t)1 << (36 - integer_bits))) result = 0; /* exp(< -32) = 0 */
    return a == 0 ? INT32_MAX : result;
}

/* 1 / ((1 + a) / 2) in Q2.29 for a in [0, 1) (Q0.31): linear first guess 48/17 - 32/17 * d, then three
 * Newton-Raphson steps x += x * (1 - d * x) */
static inline int32_t edgec_newton_reciprocal_of_half_denominator(int32_t a) {
    const int32_t d = edgec_rounding_half_sum(a, INT32_MAX);
    int32_t x = edgec_wrap_add(1515870810, edgec_srdhm(d, -1010580540));
    for (int i = 0; i < 3; i++) {
        const int32_t one_minus_dx = edgec_wrap_sub((int32_t)1 << 29, edgec_srdhm(d, x));
        x = edgec_wrap_add(x, edgec_sat_rounding_mul_by_pot(edgec_srdhm(x, one_minus_dx), 2));
    }
    return x;
}

/* 1 / (1 + a) for a in [0, 1), Q0.31 in and out */
static inline int32_t edgec_one_over_one_plus_x_for_x_in_0_1(int32_t a) {
    return edgec_sat_rounding_mul_by_pot(edgec_newton_reciprocal_of_half_denominator(a), 1);
}

/* (1 - a) / (1 + a) = 2 / (1 + a) - 1 for a in [0, 1), Q0.31 in and out */
static inline int32_t edgec_one_minus_x_over_one_plus_x_for_x_in_0_1(int32_t a) {
    return edgec_sat_rounding_mul_by_pot(
        edgec_wrap_sub(edgec_newton_reciprocal_of_half_denominator(a), (int32_t)1 << 29), 2);
}

/* The 16x8 kernels' rescale of an int64 accumulator (TFLite Micro's 64-bit MultiplyByQuantizedMultiplier), one
 * rounding on a 16-bit multiplier: (acc * M16 + 2^(14 - shift)) >> (15 - shift), ties up, with
 * M16 = (M + 2^15) >> 16 (0x7FFF for M >= 0x7FFF0000). Needs shift in [-31, 7] and |acc| < 2^47 (the op's
 * constraints), so the product stays below 2^62 and the result fits int32. */
static inline int32_t edgec_mbqm64(int64_t acc, int32_t multiplier, int shift) {
    const int64_t m16 = multiplier < 0x7FFF0000 ? (int64_t)((multiplier + (1 << 15)) >> 16) : 0x7FFF;
    const int total = 15 - shift;
    return (int32_t)((acc * m16 + ((int64_t)1 << (total - 1))) >> total);
}

/* The LSTM's gate activations (TFLite Micro's int16 LOGISTIC and TANH as its LSTM calls them), by interpolation
 * in the 256-entry table t of sigma(i/24) 2^16 (toolchain/ops/lstm.py holds it and the formulas):
 * Q3.12 -> Q0.15 logistic */
static inline int32_t edgec_lstm_sigmoid16(const uint16_t *t, int32_t z) {
    const int32_t v = 3 * z;
    const int32_t a = v < 0 ? -v : v;
    const int32_t j = a >> 9;
    const int32_t r = j >= 255 ? (32767 << 10) : (int32_t)t[j] * 512 + (a & 511) * ((int32_t)t[j + 1] - t[j]);
    return v >= 0 ? (r + 512) >> 10 : ((1 << 25) - r + 511) >> 10;
}

/* tanh of an int16 at scale 2^power -> Q0.15, the same table read as sigma(2x) */
static inline int32_t edgec_lstm_tanh16(const uint16_t *t, int32_t z, int32_t power) {
    const int32_t sh = power + 12;
    const int32_t v = sh >= 0 ? 3 * z * (1 << sh) : (3 * z + (1 << (-sh - 1))) >> (-sh);
    const int32_t a = v < 0 ? -v : v;
    const int32_t j = a >> 8;
    const int32_t r = j >= 255 ? (int32_t)(65535u << 8) : (int32_t)t[j] * 256 + (a & 255) * ((int32_t)t[j + 1] - t[j]);
    return v >= 0 ? (r - (1 << 23) + 128) >> 8 : ((1 << 23) - r + 127) >> 8;
}

#endif
