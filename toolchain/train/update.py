"""How a gradient step changes stored int8 weights and int32 biases: the numpy reference of runtime/edgec_train.h.

Quantization-aware scaling (QAS). With int8 weights W_q per output channel o (scale s_W[o]), input scale s_x and
int32 bias b_q (scale s_x * s_W[o]), an SGD step of learning rate lr on the REAL weights, dW = -lr * G_W, is in
LSB units
    dW_q[o] = -lr * G_W[o] / s_W[o]          dB_q[o] = -lr * G_b[o] / (s_x * s_W[o])
and, since the gradients with respect to the stored integers are G_Wq = s_W * G_W and G_bq = s_x * s_W * G_b,
    dW_q = -lr * G_Wq / s_W^2                dB_q = -lr * G_bq / (s_x * s_W)^2
which is the paper's QAS rule (gradients scaled by s^-2). The compiler folds the per-channel factors into
constants (`qas_factors`): kW[o] = 1 / s_W[o]^2 and kb[o] = 1 / (s_x s_W[o])^2, multiplied into G_Wq and G_bq.
A channel whose factor is not finite or whose weights are all zero is frozen (factor 0): its scale carries no
information (TFLite files store tiny or zero scales there) and its update would blow up.

Applying a step dW (a float32 number of LSB) to an int8 weight w, with no undefined behaviour for any input:
    the step is first clamped to [-255, 255] (NaN is a frozen step: 0), then
    nearest     w <- clamp(w + rnd(dW), -127, 127)
    stochastic  w <- clamp(w + floor(dW) + (u < dW - floor(dW)), -127, 127), u uniform in [0, 1) from xorshift32
where rnd rounds half away from zero in float32 (exact for |t| < 2^23) and u = (x >> 8) * 2^-24 for the
generator's next x (x ^= x << 13; x ^= x >> 17; x ^= x << 5, on uint32). Stochastic rounding is unbiased:
E[update] = dW, so steps smaller than half an LSB still move the weight on average, where nearest rounding
loses them (the int8 pilot's failure mode). Weights stay in [-127, 127] (symmetric int8, as TFLite requires).
A bias b (int32) moves by rnd(dB) (dB clamped to [-2^30, 2^30]), saturated to [-bmax, bmax], bmax given by the
compiler so that no later inference overflows its int32 accumulator.

Momentum (--momentum M, 0 <= M < 1; M = 0 keeps no state and runs exactly the rules above): a float32 velocity v
per trained weight and bias, 0 at the start,
    v <- M * v + clamp_step(step)          two float32 operations in that order (M * v first; no fused multiply-add)
and the stored integer then moves by v through the same rule as a plain step (nearest, stochastic or bias: v is
clamped again there). |v| <= limit / (1 - M) stays finite, and a NaN step (0 after the clamp) cannot poison v.

fp32 shadow weights (--weights shadow): a float32 copy s of each trained weight in LSB units, initialized to the
int8 value; a step (or the momentum's v) accumulates there and the int8 weight is s rounded to nearest:
    s <- clamp(s + clamp_step(step), -127, 127)       w <- rnd(s)        (|s| <= 127: w is in [-127, 127])
so steps smaller than half an LSB add up deterministically instead of being dropped (nearest) or dithered
(stochastic). Clamping s itself (not only w) keeps it from winding up beyond the int8 range.
"""

from __future__ import annotations

import numpy as np

WEIGHT_MIN, WEIGHT_MAX = -127, 127
STEP_LIMIT = 255.0  # |dW| in LSB: any larger step saturates the weight anyway
BIAS_STEP_LIMIT = float(1 << 30)


def rnd(t) -> np.ndarray:
    """float32 t rounded half away from zero, as runtime/edgec_train.h's edgec_rnd (|t| < 2^23 exact)."""
    t = np.asarray(t, dtype=np.float32)
    a = np.abs(t)
    i = a.astype(np.int64)
    f = a - i.astype(np.float32)
    r = i + (f >= np.float32(0.5))
    return np.where(t < 0, -r, r)


def clamp_step(step, limit: float) -> np.ndarray:
    s = np.asarray(step, dtype=np.float32)
    s = np.where(np.isnan(s), np.float32(0), s)
    return np.clip(s, np.float32(-limit), np.float32(limit)).astype(np.float32)


def update_nearest(w, step) -> np.ndarray:
    new = np.asarray(w, np.int64) + rnd(clamp_step(step, STEP_LIMIT))
    return np.clip(new, WEIGHT_MIN, WEIGHT_MAX).astype(np.int8)


def momentum_velocity(v, step, momentum: float, limit: float = STEP_LIMIT) -> np.ndarray:
    """v <- float32(M) * v + clamp_step(step, limit), float32 operations in that order (runtime: edgec_momentum)."""
    f = np.float32
    return ((f(momentum) * np.asarray(v, f)).astype(f) + clamp_step(step, limit)).astype(f)


def update_shadow(shadow, step) -> tuple[np.ndarray, np.ndarray]:
    """(new shadow, new int8 weight): s <- clamp(s + clamp_step(step), -127, 127), w <- rnd(s)
    (runtime: edgec_update_shadow)."""
    f = np.float32
    s = (np.asarray(shadow, f) + clamp_step(step, STEP_LIMIT)).astype(f)
    s = np.clip(s, f(WEIGHT_MIN), f(WEIGHT_MAX)).astype(f)
    return s, rnd(s).astype(np.int8)


def xorshift32(state: int, n: int) -> tuple[np.ndarray, int]:
    """The next n outputs of xorshift32 from `state` (non-zero), and the new state."""
    out = np.empty(n, dtype=np.uint32)
    x = int(state) & 0xFFFFFFFF
    for k in range(n):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out[k] = x
    return out, x


def uniform(draws: np.ndarray) -> np.ndarray:
    """u = (x >> 8) * 2^-24: 24 random bits, exactly representable in float32, in [0, 1)."""
    return (np.asarray(draws, np.uint32) >> 8).astype(np.float32) * np.float32(2.0**-24)


def update_stochastic(w, step, state: int) -> tuple[np.ndarray, int]:
    """One draw per element in array order; returns the new weights and the generator state."""
    s = clamp_step(step, STEP_LIMIT).reshape(-1)
    draws, state = xorshift32(state, s.size)
    floor = np.floor(s)
    up = uniform(draws) < (s - floor)
    new = np.asarray(w, np.int64).reshape(-1) + floor.astype(np.int64) + up
    return np.clip(new, WEIGHT_MIN, WEIGHT_MAX).astype(np.int8).reshape(np.shape(w)), state


def update_bias(b, step, bmax) -> np.ndarray:
    s = clamp_step(step, BIAS_STEP_LIMIT)
    bmax = np.asarray(bmax, np.int64)
    return np.clip(np.asarray(b, np.int64) + rnd(s), -bmax, bmax).astype(np.int32)


_EXP_COEFFS = [1.98412698e-04, 1.38888889e-03, 8.33333377e-03, 4.16666679e-02, 1.66666672e-01, 0.5, 1.0, 1.0]


def expf(x) -> np.ndarray:
    """exp in float32 operations, the same bits as runtime/edgec_train.h's edgec_expf (which documents the method):
    every step is one float32 operation in the C's order, so numpy and C agree bit for bit."""
    f = np.float32
    x = np.asarray(x, dtype=f)
    zero = ~(x > f(-87.0))
    x = np.where(zero, f(0), np.minimum(x, f(88.0))).astype(f)
    t = (x * f(1.44269502)).astype(f)
    k = (t + np.where(t < 0, f(-0.5), f(0.5))).astype(f).astype(np.int32)  # C's cast truncates toward zero
    kf = k.astype(f)
    r = (x - (kf * f(0.693145751953125)).astype(f)).astype(f)
    r = (r - (kf * f(1.42860677e-06)).astype(f)).astype(f)
    p = np.full_like(r, f(_EXP_COEFFS[0]))
    for c in _EXP_COEFFS[1:]:
        p = ((p * r).astype(f) + f(c)).astype(f)
    two_k = ((k + 127).astype(np.uint32) << np.uint32(23)).view(f)
    return np.where(zero, f(0), (p * two_k).astype(f)).astype(f)


def qas_factors(weight_scales, input_scale: float, weights) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(kW, kb, frozen) per output channel (axis 0 of `weights`; one scale or one per channel), in float32:
    kW = 1 / s_W^2, kb = 1 / (s_x s_W)^2, computed in float64; a channel is frozen (factors 0) when its weights
    are all zero or a factor is not a finite float32."""
    w = np.asarray(weights)
    w = w.reshape(w.shape[0], -1)
    s_w = np.broadcast_to(np.asarray(weight_scales, np.float64).reshape(-1), (w.shape[0],))
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        kw32 = (1.0 / s_w**2).astype(np.float32)  # overflow to inf: frozen below
        kb32 = (1.0 / (float(input_scale) * s_w) ** 2).astype(np.float32)
    frozen = ~np.isfinite(kw32) | ~np.isfinite(kb32) | (s_w <= 0) | ~np.any(w != 0, axis=1)
    return np.where(frozen, 0, kw32).astype(np.float32), np.where(frozen, 0, kb32).astype(np.float32), frozen
