/* edgec_host.h - the output stage of the host kernels (runtime/<op>_host.c): TFLite's requantization with its
 * per-channel constants computed by the compiler, and no branch on the rounding mode per output.
 *
 * q[4] per output channel (toolchain/ops/int8_common.py host_requant_table): the multiplier M, left = max(shift,
 * 0), right = max(-shift, 0) (both <= 31) and half = 2^(right-1) (0 when right is 0). Then, exactly as
 * edgec_mbqm (M >= 0, so the one saturating case of SRDHM, INT32_MIN * INT32_MIN, cannot occur):
 *     s = floor((acc 2^left * M + 2^30) / 2^31)                               (SRDHM, edgec_fixedpoint.h)
 *     RDBPOT(s, right) = floor((s + half - [s < 0 and right > 0]) / 2^right)  (half away from zero)
 * For s >= 0 adding half and flooring rounds the remainder r up when r >= half, TFLite's r > half - 1; for
 * s < 0 adding half - 1 rounds up when r >= half + 1, TFLite's r > half. The sum is done on int64 (no overflow).
 * About 14 instructions per output on x86-64, against about 40 through edgec_requantize.
 */
#ifndef EDGEC_HOST_H
#define EDGEC_HOST_H

#include <stdint.h>

static inline int32_t edgec_host_mbqm(int32_t acc, const int32_t *q) {
    const int64_t shifted = (int32_t)((uint32_t)acc << q[1]); /* wraps like TFLite's int32 multiply */
    const int32_t s = (int32_t)((shifted * q[0] + ((int64_t)1 << 30)) >> 31);
    const int64_t nudge = (int64_t)q[3] - (s < 0 && q[3] != 0 ? 1 : 0);
    return (int32_t)(((int64_t)s + nudge) >> q[2]);
}

/* the whole output stage: requantize, add the output zero point, clamp to [act_min, act_max] */
static inline int8_t edgec_host_out(int32_t acc, const int32_t *q, int32_t output_offset, int32_t act_min,
                                    int32_t act_max) {
    const int32_t y = edgec_host_mbqm(acc, q) + output_offset;
    return (int8_t)(y < act_min ? act_min : (y > act_max ? act_max : y));
}

#endif
