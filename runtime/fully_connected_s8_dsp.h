#ifndef EDGEC_FULLY_CONNECTED_S8_DSP_H
#define EDGEC_FULLY_CONNECTED_S8_DSP_H
#include <stdint.h>

#include "fully_connected_s8.h"

/* int8 FULLY_CONNECTED with the Arm DSP extension (Cortex-M4, M7, M33: SXTB16, SXTAB16, SMLAD), the same
 * parameters and the same bytes as the portable edgec_fully_connected_s8. Per batch row, 4 output rows at a time:
 * 4 inputs are one word, widened to two int16 pairs with the input offset added (shared by the 4 rows), each row's
 * 4 weights one word split the same way, two SMLAD per row (27 instructions per 16 MACs; the _w16 variant below,
 * with int16 weights, 32 per 32). Depth and output rows need not be multiples of 4.
 * Requantization is the portable kernel's (edgec_requantize, both rounding modes, per-tensor or per-channel).
 * No scratch; input and output must not overlap (as for the portable kernel). */
/* `stage`: NULL, or the compile-time output stage of runtime/edgec_dsp_out.h, EDGEC_DSP_OUT_WORDS int32 per output
 * row (its start the bias) */
void edgec_fully_connected_s8_dsp(const edgec_fully_connected_s8_params *p, const int32_t *stage,
                                  const int8_t *input, int8_t *output);

/* The same with the stage (never NULL here) and a second, int16 copy of the first 4 floor(out_c / 4) rows'
 * weights: block k of 4 rows, group g of 4 inputs holds the 16 int16 (w[r][4g], w[r][4g+2], w[r][4g+1],
 * w[r][4g+3]) for r = 4k .. 4k + 3 at (k * floor(depth / 4) + g) * 16 (toolchain/ops/fully_connected.py,
 * dsp_weights16): per 4 inputs x 4 rows one LDR and 2 SXTB16 of the inputs, 4 LDRD, 8 SMLAD (no weight SXTB16).
 * The depth % 4 last inputs and the out_c % 4 last rows take the int8 weights (p->weights). */
void edgec_fully_connected_s8_dsp_w16(const edgec_fully_connected_s8_params *p, const int32_t *stage,
                                      const int16_t *weights16, const int8_t *input, int8_t *output);

/* The same from compile-time records (toolchain/ops/fully_connected.py, dsp_fc_records): every word the kernel reads
 * besides the input, in the order it reads them, so one pointer and LDM reach them. Each row's stage (edgec_dsp_out.h)
 * with pre = left + 1 <= 8 folded into the data: its weights stored as int16 w << pre and its start as start << pre
 * (mod 2^32), so the sums are already the stage's a2 = acc 2^pre (exact: the stage is kept only when a2 fits int32,
 * and then a2 >> 31 is acc's sign) and no LSL is left. Only for the full int8 clamp [-128, 127] (SSAT #8 is it).
 * R words: e in the low byte (ASR by a register reads only that byte), above it a loop count.
 *   depth <= 8, every row: [s, (w0, w2), (w1, w3), (w4, w6), (w5, w7), M, round, R] (depth padded with zero
 *     weights to 8; R = e | (turns of 4 rows left << 8) on the rows with n - 1 - r a multiple of 4): the input's 8
 *     values stay in 4 registers, a row is one LDM, 4 SMLAD, SMMLAR, ADD, ASR, SSAT, STRB, and four rows share the
 *     loop's CMP and BHS: 10.5 instructions per 8 MACs.
 *   depth > 8, blocks of 4 rows, then one block of the out_c % 4 last rows (all of them when out_c < 4): a block of
 *     n rows is [s_0 .. s_n-1, 4 G], G = ceil(depth / 4) groups of 2 n words (row by row: (w0, w2), (w1, w3) of the
 *     group's 4 inputs, zero past depth), [M, round, R] x n (R of a 4-row block's row 3: e | (blocks of 4 left <<
 *     8)). Per group of 4 inputs: 4 rows LDR, 2 SXTB16, 2 LDM, 8 SMLAD (13 per 16 MACs); 3 rows LDR, 2 SXTB16, LDM,
 *     6 SMLAD (10 per 12 MACs); 2 rows LDR, 2 SXTB16, LDM, 4 SMLAD (8 per 8 MACs); 1 row LDR, 2 SXTB16, half an LDM,
 *     2 SMLAD (5.5 per 4 MACs). Turns of 4 groups (CMP, BNE: 54, 42, 34, 24 instructions a turn), an odd G's group
 *     first and the first turn entered at its half when G / 2 is odd. A block's requantization: LDM and 5 per row.
 *     A depth not a multiple of 4 is read from a zero-padded copy (at most EDGEC_FC_REC_PAD bytes of stack).
 * Same bytes as edgec_fully_connected_s8 (batches, per-channel or per-tensor; TFLite's rounding). */
#define EDGEC_FC_REC_PAD 256
void edgec_fully_connected_s8_dsp_rec(const edgec_fully_connected_s8_params *p, const int32_t *records,
                                      const int8_t *input, int8_t *output);

#endif
