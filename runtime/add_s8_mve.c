#include "add_s8_mve.h"

#include "edgec_broadcast.h"
#include "edgec_fixedpoint.h"
#include "edgec_mve.h"

/* y[i] = clamp(MBQM(table1[q1[i] + 128] + table2[q2[i] + 128], M_out, s_out) + zp_out)   (add_s8_lut.h)
 * Per 4 elements of a unit-stride row: 2 VLDRB.S32, 2 VADD, 2 gather VLDRW (the index scaled by 4), VADD, about 5
 * for the MBQM, VADD, VMAX, VMIN, VSTRB.32: about 19 instructions with the loop (the scalar table loop: about 50
 * per element under QEMU on ResNet-8's ADDs). */

/* 4 elements from a, b into out; `tail` (a constant per instantiation): only the lanes of pr */
static inline __attribute__((always_inline)) void add_mve_block(const int8_t *a, const int8_t *b, int8_t *out,
                                                                const int32_t *t1, const int32_t *t2, int32_t m,
                                                                int32_t s, int32_t zp, int32x4_t lo, int32x4_t hi,
                                                                mve_pred16_t pr, const int tail) {
    const int32x4_t x1 = tail ? vldrbq_z_s32(a, pr) : vldrbq_s32(a), x2 = tail ? vldrbq_z_s32(b, pr) : vldrbq_s32(b);
    const uint32x4_t i1 = vreinterpretq_u32_s32(vaddq_n_s32(x1, 128));
    const uint32x4_t i2 = vreinterpretq_u32_s32(vaddq_n_s32(x2, 128));
    const int32x4_t v1 = tail ? vldrwq_gather_shifted_offset_z_s32(t1, i1, pr)
                              : vldrwq_gather_shifted_offset_s32(t1, i1);
    const int32x4_t v2 = tail ? vldrwq_gather_shifted_offset_z_s32(t2, i2, pr)
                              : vldrwq_gather_shifted_offset_s32(t2, i2);
    int32x4_t y = edgec_mve_mbqm_n(vaddq_s32(v1, v2), m, s); /* |v_k| < 2^28: the sum is exact */
    y = vminq_s32(vmaxq_s32(vaddq_n_s32(y, zp), lo), hi);
    if (tail)
        vstrbq_p_s32(out, y, pr);
    else
        vstrbq_s32(out, y);
}

void edgec_add_s8_mve(const edgec_add_s8_params *p, const int32_t *table1, const int32_t *table2,
                      const int8_t *input1, const int8_t *input2, int8_t *output) {
    /* the constants in locals: the int8 stores may alias anything reached through p */
    const int32_t m = p->output_multiplier, s = p->output_shift, zp = p->output_offset;
    const int32_t act_min = p->act_min, act_max = p->act_max;
    const int32x4_t lo = vdupq_n_s32(act_min), hi = vdupq_n_s32(act_max);
    const int32_t *t1 = table1 + 128, *t2 = table2 + 128; /* scalar rows: indexed by the int8 value itself */
    edgec_broadcast_cursor c = edgec_broadcast_start();
    const int32_t rows = edgec_broadcast_rows(p->shape);
    const int32_t n = p->shape[5], s1 = p->stride1[5], s2 = p->stride2[5], full = n & ~3;
    const mve_pred16_t pr = vctp32q((uint32_t)(n - full));
    int8_t *out = output;
    for (int32_t r = 0; r < rows; r++, edgec_broadcast_next_row(&c, p->shape, p->stride1, p->stride2), out += n) {
        const int8_t *a = input1 + c.offset1, *b = input2 + c.offset2;
        if (s1 == 1 && s2 == 1) {
            for (int32_t i = 0; i < full; i += 4)
                add_mve_block(a + i, b + i, out + i, table1, table2, m, s, zp, lo, hi, pr, 0);
            if (full < n) add_mve_block(a + full, b + full, out + full, table1, table2, m, s, zp, lo, hi, pr, 1);
        } else {
            for (int32_t i = 0; i < n; i++) {
                const int32_t raw = t1[a[i * s1]] + t2[b[i * s2]];
                out[i] = (int8_t)edgec_clamp(edgec_wrap_add(edgec_mbqm(raw, m, s), zp), act_min, act_max);
            }
        }
    }
}
