#include "logistic_tanh_s8.h"
#include "edgec_fixedpoint.h"

enum { INPUT_INTEGER_BITS = 4 };

/* logistic(a) = 1 / (1 + exp(-a)) for a in Q4.27, result in Q0.31: evaluated on |a| and mirrored with
 * logistic(-a) = 1 - logistic(a); logistic(0) = 1/2 */
static int32_t fixed_logistic(int32_t a) {
    if (a == 0) return (int32_t)1 << 30;
    const int32_t neg_abs = a > 0 ? edgec_wrap_neg(a) : a;
    const int32_t if_positive = edgec_one_over_one_plus_x_for_x_in_0_1(
        edgec_exp_on_negative_values(neg_abs, INPUT_INTEGER_BITS));
    return a > 0 ? if_positive : edgec_wrap_sub(INT32_MAX, if_positive);
}

/* tanh(a) for a in Q4.27, result in Q0.31: for n = -|a|, -tanh(n) = (1 - exp(2n)) / (1 + exp(2n)), where 2n is
 * the same raw value read as Q5.26; tanh is odd; tanh(0) = 0 */
static int32_t fixed_tanh(int32_t a) {
    if (a == 0) return 0;
    const int32_t n = a < 0 ? a : edgec_wrap_neg(a);
    const int32_t t = edgec_one_minus_x_over_one_plus_x_for_x_in_0_1(
        edgec_exp_on_negative_values(n, INPUT_INTEGER_BITS + 1));
    return a < 0 ? edgec_wrap_neg(t) : t;
}

/* Both activations, element by element: inputs beyond +-radius saturate (TFLite's shortcut, bit-exact with it),
 * the rest is rescaled to Q4.27, mapped through f in Q0.31, then brought to the output's LSBs:
 * logistic outputs units of 1/256 with zero point -128 (out_bits 8), tanh units of 1/128 with zero point 0. */
static void activation_s8(const edgec_logistic_tanh_s8_params *p, const int8_t *input, int8_t *output,
                          int32_t (*f)(int32_t), int out_bits, int32_t output_zero_point) {
    for (int32_t i = 0; i < p->size; i++) {
        const int32_t d = input[i] - p->input_zero_point;
        if (d <= -p->input_range_radius) {
            output[i] = -128;
        } else if (d >= p->input_range_radius) {
            output[i] = 127;
        } else {
            const int32_t a = edgec_mbqm(d, p->input_multiplier, p->input_left_shift); /* Q4.27 */
            const int32_t y = edgec_rounding_divide_by_pot(f(a), 31 - out_bits) + output_zero_point;
            output[i] = (int8_t)edgec_clamp(y, -128, 127);
        }
    }
}

void edgec_logistic_s8(const edgec_logistic_tanh_s8_params *p, const int8_t *input, int8_t *output) {
    activation_s8(p, input, output, fixed_logistic, 8, -128);
}

void edgec_tanh_s8(const edgec_logistic_tanh_s8_params *p, const int8_t *input, int8_t *output) {
    activation_s8(p, input, output, fixed_tanh, 7, 0);
}
