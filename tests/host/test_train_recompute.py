"""Recomputation of forward segments instead of saving them (toolchain/train/recompute.py; docs/training.md,
"Recomputation"): a recomputed saved tensor gives the same training step bit for bit (C under ASan/UBSan = numpy =
the step without recomputation), the rewritten graph lets the saved tensor die after the forward pass, and the
search keeps a candidate only when the real planner's arena is lower."""

from __future__ import annotations

import numpy as np
from small_models import patch_stage_net
from test_train import run_c_and_numpy, training_graph

from edgec.memory import plan_memory
from edgec.train.recompute import Candidate, saved_tensors, search, with_recompute
from edgec.train.run import TrainState, train_step


def test_recomputed_mask_same_step_and_search_decides(tmp_path):
    model = tmp_path / "net.tflite"
    model.write_bytes(patch_stage_net())
    _, tg = training_graph(model, "last:3", lr=0.05, rounding="stochastic", seed=5, classes=3)
    saved = saved_tensors(tg)
    mask = next(s for s in saved if s.endswith("/mask"))
    producers = {o: op for op in tg.ops for o in op.outputs}
    segment = [producers[producers[mask].inputs[0]].name, producers[mask].name]
    rg = with_recompute(tg, Candidate(saved=mask, bytes=tg.t(mask).nbytes, segment=segment, reader=saved[mask][0],
                                      macs=0, live_at=0))
    n = rg.meta["training"]["forward_ops"]
    assert mask not in {i for op in rg.ops[n + 1:] for i in op.inputs}  # the backward reads the copy
    assert [op.name for op in rg.ops[n + 1:] if op.name.endswith("/recomputed")] == [f"{s}/recomputed"
                                                                                     for s in segment]
    rng = np.random.default_rng(4)
    records = [[rng.integers(-128, 128, (1, 32, 32, 3)).astype(np.int8), np.array([k % 3], np.int32)]
               for k in range(3)]
    state = run_c_and_numpy(tmp_path, rg, records)  # the C of the rewritten graph = its numpy reference
    plain = TrainState.of(tg)
    for x, label in records:
        train_step(tg, plain, x, int(label[0]))
    for name in state.params:  # = the step without recomputation
        assert np.array_equal(state.params[name].view(np.uint8), plain.params[name].view(np.uint8)), name
    plan = plan_memory(tg)
    kept, kept_plan, log = search(tg, plan, lambda t: (t, plan_memory(t)))
    assert kept_plan.arena_bytes <= plan.arena_bytes
    assert (kept is tg) == all(r["arena_after"] >= r["arena_before"] for r in log)
