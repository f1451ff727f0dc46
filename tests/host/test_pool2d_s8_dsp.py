"""runtime/pool2d_s8_dsp.c (the Cortex-M DSP average and max pools, here through edgec_acle.h's plain-C models of
SXTAB16 and the kernel's C model of SSUB8 + SEL) writes the same bytes as the portable runtime/pool2d_s8.c on
thousands of random layers: odd channel counts, windows 1x1 to 6x6 and global ones up to 256 taps, strides 1 to 3,
SAME and VALID padding, batches, clamps, inputs all at one end of the int8 range, the average with the reciprocal
and with TFLite's division, the whole layer and a region of it (patch stages). Compiled with ASan and UBSan and
exact-size allocations, so a read past the input fails the run. Then the compile-time side
(toolchain/ops/pool2d.py): the exactness proof, the tap counts it covers, and kws's choice on a Cortex-M4."""

from __future__ import annotations

import subprocess
from pathlib import Path

from c_driver import build_sanitized

from edgec.ops.pool2d import DSP_AVG_MAX_TAPS, reciprocal_exact

DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "edgec_fixedpoint.h"
#include "pool2d_s8.h"
#include "pool2d_s8_dsp.h"

static uint32_t state;
static uint32_t next(void) { state ^= state << 13; state ^= state >> 17; state ^= state << 5; return state; }
static int32_t pick(int32_t lo, int32_t hi) { return lo + (int32_t)(next() % (uint32_t)(hi - lo + 1)); }
static const int32_t CHANNELS[] = {1, 2, 3, 4, 5, 7, 8, 12, 13, 16, 17, 33, 64};

static void same_or_valid(int32_t in, int32_t k, int32_t s, int same, int32_t *out, int32_t *pad) {
    if (same) {
        *out = (in + s - 1) / s;
        const int32_t total = (*out - 1) * s + k - in;
        *pad = total > 0 ? total / 2 : 0;
    } else {
        *out = in >= k ? (in - k) / s + 1 : 0, *pad = 0;
    }
}

static int compare(const char *what, const edgec_pool2d_s8_params *p, const int8_t *a, const int8_t *b, int32_t n) {
    if (memcmp(a, b, (size_t)n) == 0) return 0;
    printf("%s: batches %d in %dx%dx%d k %dx%d stride %d,%d out %dx%d pad %d,%d act [%d,%d]\n", what, p->batches,
           p->in_h, p->in_w, p->channels, p->k_h, p->k_w, p->stride_h, p->stride_w, p->out_h, p->out_w, p->pad_top,
           p->pad_left, p->act_min, p->act_max);
    return 1;
}

static int one_case(void) {
    edgec_pool2d_s8_params p;
    memset(&p, 0, sizeof p);
    p.batches = pick(1, 2), p.in_h = pick(1, 16), p.in_w = pick(1, 16);
    p.channels = CHANNELS[next() % (sizeof CHANNELS / sizeof CHANNELS[0])];
    const int global = next() % 4 == 0;
    p.k_h = global ? p.in_h : pick(1, 6), p.k_w = global ? p.in_w : pick(1, 6);
    p.stride_h = pick(1, 3), p.stride_w = pick(1, 3);
    const int same = (int)(next() % 2);
    same_or_valid(p.in_h, p.k_h, p.stride_h, same, &p.out_h, &p.pad_top);
    same_or_valid(p.in_w, p.k_w, p.stride_w, same, &p.out_w, &p.pad_left);
    if (p.out_h == 0 || p.out_w == 0) return 0;
    p.act_min = -128, p.act_max = 127;
    if (next() % 3 == 0) p.act_min = pick(-128, 0), p.act_max = pick(p.act_min, 127);
    const int32_t in_n = p.batches * p.in_h * p.in_w * p.channels, out_n = p.batches * p.out_h * p.out_w * p.channels;
    int8_t *in = malloc((size_t)in_n), *want = malloc((size_t)out_n), *got = malloc((size_t)out_n);
    const int end = next() % 4 == 0 ? (next() % 2 ? -128 : 127) : 0;
    for (int32_t i = 0; i < in_n; i++) in[i] = (int8_t)(end ? end : pick(-128, 127));
    const uint32_t full = (uint32_t)(p.k_h * p.k_w);
    const uint32_t recip = next() % 4 == 0 || full == 1 ? 0 : 0xFFFFFFFFu / full + 1;
    int bad = 0;
    edgec_avg_pool2d_s8(&p, in, want), edgec_avg_pool2d_s8_dsp(&p, recip, in, got);
    bad |= compare(recip ? "avg" : "avg (division)", &p, want, got, out_n);
    edgec_max_pool2d_s8(&p, in, want), edgec_max_pool2d_s8_dsp(&p, in, got);
    bad |= compare("max", &p, want, got, out_n);
    /* a region: its input window copied into an exact-size buffer */
    edgec_region r;
    r.out_y0 = pick(0, p.out_h - 1), r.out_x0 = pick(0, p.out_w - 1);
    r.out_h = pick(1, p.out_h - r.out_y0), r.out_w = pick(1, p.out_w - r.out_x0);
    r.in_y0 = edgec_max(r.out_y0 * p.stride_h - p.pad_top, 0);
    r.in_x0 = edgec_max(r.out_x0 * p.stride_w - p.pad_left, 0);
    r.in_h = edgec_min((r.out_y0 + r.out_h - 1) * p.stride_h - p.pad_top + p.k_h, p.in_h) - r.in_y0;
    r.in_w = edgec_min((r.out_x0 + r.out_w - 1) * p.stride_w - p.pad_left + p.k_w, p.in_w) - r.in_x0;
    r.ob_y0 = r.out_y0, r.ob_x0 = r.out_x0, r.ob_h = r.out_h, r.ob_w = r.out_w;
    if (r.in_h > 0 && r.in_w > 0) {
        const int32_t rin_n = p.batches * r.in_h * r.in_w * p.channels, m = p.batches * r.out_h * r.out_w * p.channels;
        int8_t *rin = malloc((size_t)rin_n);
        for (int32_t b = 0; b < p.batches; b++)
            for (int32_t y = 0; y < r.in_h; y++)
                memcpy(rin + ((b * r.in_h + y) * r.in_w) * p.channels,
                       in + ((b * p.in_h + r.in_y0 + y) * p.in_w + r.in_x0) * p.channels,
                       (size_t)(r.in_w * p.channels));
        edgec_avg_pool2d_s8_region(&p, &r, rin, want), edgec_avg_pool2d_s8_dsp_region(&p, recip, &r, rin, got);
        bad |= compare("avg region", &p, want, got, m);
        edgec_max_pool2d_s8_region(&p, &r, rin, want), edgec_max_pool2d_s8_dsp_region(&p, &r, rin, got);
        bad |= compare("max region", &p, want, got, m);
        free(rin);
    }
    free(in), free(want), free(got);
    return bad;
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    state = (uint32_t)strtoul(argv[1], NULL, 10);
    const int cases = atoi(argv[2]);
    int mismatches = 0;
    for (int i = 0; i < cases; i++) mismatches += one_case();
    printf("cases=%d mismatches=%d\n", cases, mismatches);
    return 0;
}
"""


def test_dsp_pools_match_the_portable_kernels(tmp_path: Path):
    exe = build_sanitized(tmp_path, DRIVER, ["pool2d_s8", "pool2d_s8_dsp"])
    res = subprocess.run([str(exe), "2024", "3000"], capture_output=True, text=True, check=True)
    assert res.stdout.splitlines()[-1] == "cases=3000 mismatches=0", res.stdout[-3000:]


def test_reciprocal_proof():
    """ceil(2^32 / n) is exact for every window the DSP average takes; the check rejects a reciprocal one too
    small (floor(2^32 / n) for n not a power of 2 underestimates d / n at d = n, ...) and accepts nothing blindly"""
    for n in range(2, DSP_AVG_MAX_TAPS + 1):
        assert reciprocal_exact(n, (2**32 - 1) // n + 1), n
    assert not reciprocal_exact(3, 2**32 // 3)
    assert not reciprocal_exact(125, 2**32 // 125)
    assert not reciprocal_exact(7, (2**32 - 1) // 7 + 2**20)  # too large: overshoots at the top of the range


def test_kws_pool_on_a_cortex_m4_takes_the_dsp_kernel():
    """kws's global average pool (25 x 5 = 125 taps, VALID): every window has 125 taps, the reciprocal is proven
    and emitted; on the host (no DSP) and with a window over 256 taps the portable kernel stays."""
    from edgec import driver
    from edgec.board import get_board
    from edgec.kernels import kernel_target, select_kernels
    from edgec.ops.base import KernelTarget
    from edgec.ops.pool2d import dsp_avg_choice, dsp_avg_reciprocal, window_counts

    models = Path(__file__).resolve().parents[3] / "shared" / "models" / "mlperf-tiny"
    g = driver.compile_model(models / "kws_ref_model.tflite").graph
    select_kernels(g, kernel_target(get_board("nucleo_l4r5zi")))
    pool = next(op for op in g.ops if op.type == "avg_pool2d")
    assert pool.attrs["kernel_choice"]["function"] == "edgec_avg_pool2d_s8_dsp"
    assert "proven exact" in pool.attrs["kernel_choice"]["reason"]
    assert window_counts(pool, g) == {125}
    assert dsp_avg_reciprocal(pool, g) == -(-(2**32) // 125)
    assert dsp_avg_choice(pool, g, KernelTarget(core="host", dsp=False)) is None
    pool.attrs["filter_h"], pool.attrs["filter_w"] = 16, 17  # 272 taps: over the 16-bit lanes' bound
    assert dsp_avg_choice(pool, g, KernelTarget(core="cortex-m4", dsp=True)) is None
