/* int8 ADD / SUB on a core with DSP: the two inputs' rescales from the compiler's tables (as add_s8_lut.c), the
 * output's by the compile-time stage of edgec_dsp_out.h:
 *     raw = table1[q1 + 128] + table2[q2 + 128]
 *     y   = clamp(SSAT8((SMMLAR(raw << pre, M, round) + (raw >> 31)) >> e), act_min, act_max)
 * = clamp(zp_y + MBQM(raw, M_y, shift_y)) exactly, for every raw the tables can sum (toolchain/ops/add.py,
 * dsp_stage). Cost: LDRSB x2, LDR x2, ADD, LSL, SMMLAR, ADD, ASR, SSAT, STRB and the loop, 13 instructions per
 * element on the M4 (52 with the portable rescale). */
#include "add_s8_lut_dsp.h"
#include "edgec_broadcast.h"
#include "edgec_dsp_out.h"
#include "edgec_fixedpoint.h"

/* The output's rescale of the table kernel by the compile-time stage (edgec_dsp_out.h): raw = t1 + t2 lies within
 * the tables' extremes, known to the compiler, which passes the stage only where it is exact. `narrow` is a literal
 * at each call: the activation clamps inside [-128, 127]. */
static inline __attribute__((always_inline)) void edgec_add_lut_rows(const edgec_add_s8_params *p, const int32_t *t1,
                                                                     const int32_t *t2, const int32_t *stage,
                                                                     const int8_t *input1, const int8_t *input2,
                                                                     int8_t *output, int narrow) {
    const int32_t pre = stage[EDGEC_DSP_OUT_PRE], m = stage[EDGEC_DSP_OUT_M], round = stage[EDGEC_DSP_OUT_ROUND];
    const int32_t right = stage[EDGEC_DSP_OUT_RIGHT], lo = p->act_min, hi = p->act_max;
    edgec_broadcast_cursor c = edgec_broadcast_start();
    const int32_t rows = edgec_broadcast_rows(p->shape);
    const int32_t n = p->shape[5], s1 = p->stride1[5], s2 = p->stride2[5];
    int8_t *out = output;
    for (int32_t r = 0; r < rows; r++, edgec_broadcast_next_row(&c, p->shape, p->stride1, p->stride2)) {
        const int8_t *a = input1 + c.offset1, *b = input2 + c.offset2;
        if (s1 == 1 && s2 == 1) { /* no broadcast along the row: LDRSB x2, LDR x2, ADD, the stage, STRB */
            for (int8_t *const end = out + n; out < end;) {
                const int32_t y = edgec_dsp_requant_k(t1[*a++] + t2[*b++], pre, m, round, right);
                *out++ = (int8_t)(narrow ? edgec_clamp(y, lo, hi) : y);
            }
            continue;
        }
        for (int32_t i = 0; i < n; i++) {
            const int32_t y = edgec_dsp_requant_k(t1[a[i * s1]] + t2[b[i * s2]], pre, m, round, right);
            *out++ = (int8_t)(narrow ? edgec_clamp(y, lo, hi) : y);
        }
    }
}

void edgec_add_s8_lut_dsp(const edgec_add_s8_params *p, const int32_t *table1, const int32_t *table2,
                          const int32_t *stage, const int8_t *input1, const int8_t *input2, int8_t *output) {
    const int32_t *t1 = table1 + 128, *t2 = table2 + 128; /* indexed by the int8 value itself */
    if (p->act_min == -128 && p->act_max == 127) edgec_add_lut_rows(p, t1, t2, stage, input1, input2, output, 0);
    else edgec_add_lut_rows(p, t1, t2, stage, input1, input2, output, 1);
}
