#include "logistic_tanh_s16.h"

/* LOGISTIC:  v = rescaled x (units of 1/(3 * 4096) ... so |v| = 2^17 is 10.7), a = |v|, i = a >> 9, f = a & 511:
 *              r = T[i] * 2^9 + f * (T[i+1] - T[i])   (0x7FFF * 2^10 when i >= 255: saturated)
 *              y = (r + 2^9) >> 10 for v >= 0,  (2^25 - r + 2^9 - 1) >> 10 for v < 0    (sigma(-x) = 1 - sigma(x))
 * TANH:      tanh(x) = 2 sigma(2x) - 1, so the same table with i = a >> 8, f = a & 255:
 *              r = T[i] * 2^8 + f * (T[i+1] - T[i])   (0xFFFF * 2^8 when i >= 255)
 *              y = (r - 2^23 + 2^7) >> 8 for v >= 0,  (2^23 - r + 2^7 - 1) >> 8 for v < 0 (arithmetic shift)
 * T[i] = sigmoid(i / 24) in 0.16 fixed point: TFLite's sigmoid_table_uint16, the values its int16 kernels read (not
 * a rounding of the exact sigmoid: they differ from round(2^16 sigmoid(i/24)) by one at 44 entries, so the table
 * is given as numbers; toolchain/ops/logistic_tanh.py holds the same table and a test checks the two agree).
 * Cost: one multiply and shift to rescale, two table reads, one multiply-add per element; no MACs. */
static const uint16_t sigmoid_table[256] = {
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794, 41432, 42064, 42688,
    43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409,
    51865, 52311, 52745, 53169, 53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433,
    57724, 58007, 58280, 58544, 58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110,
    61279, 61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990, 63090, 63186,
    63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308,
    64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900,
    64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208,
    65221, 65234, 65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360, 65367,
    65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433, 65438, 65442, 65445, 65449,
    65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491,
    65493, 65495, 65497, 65498, 65500, 65501, 65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513,
    65514, 65515, 65516, 65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
    65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529, 65529, 65530, 65530,
    65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533,
    65533, 65533, 65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535
};

static inline int32_t rescale(const edgec_logistic_tanh_s16_params *p, int16_t x) {
    const int32_t round = p->input_shift > 0 ? (int32_t)1 << (p->input_shift - 1) : 0;
    return ((int32_t)x * p->input_multiplier + round) >> p->input_shift;
}

void edgec_logistic_s16(const edgec_logistic_tanh_s16_params *p, const int16_t *input, int16_t *output) {
    for (int32_t k = 0; k < p->size; k++) {
        const int32_t v = rescale(p, input[k]);
        const uint32_t a = (uint32_t)(v < 0 ? -v : v);
        const uint32_t i = a >> 9;
        uint32_t r;
        if (i >= 255) {
            r = (uint32_t)0x7FFF << 10;
        } else {
            const uint32_t lo = sigmoid_table[i], hi = sigmoid_table[i + 1];
            r = (lo << 9) + (a & 0x1FFu) * (hi - lo);
        }
        r = v >= 0 ? r + (1u << 9) : (1u << 25) - r + (1u << 9) - 1u;
        output[k] = (int16_t)(r >> 10);
    }
}

void edgec_tanh_s16(const edgec_logistic_tanh_s16_params *p, const int16_t *input, int16_t *output) {
    for (int32_t k = 0; k < p->size; k++) {
        const int32_t v = rescale(p, input[k]);
        const uint32_t a = (uint32_t)(v < 0 ? -v : v);
        const uint32_t i = a >> 8;
        int32_t r;
        if (i >= 255) {
            r = (int32_t)0xFFFF << 8;
        } else {
            const uint32_t lo = sigmoid_table[i], hi = sigmoid_table[i + 1];
            r = (int32_t)((lo << 8) + (a & 0xFFu) * (hi - lo));
        }
        r = v >= 0 ? r - (1 << 23) + (1 << 7) : -r + (1 << 23) + (1 << 7) - 1;
        output[k] = (int16_t)(r >> 8);
    }
}
