"""`edgec train`: the stages of a training run (docs/training.md).

    read the data -> compile the inference graph -> the training graph (scheme) -> plan -> C -> build ->
    run the steps (host process or emulated board) -> check against the numpy reference -> report

The run feeds the generated `<prefix>_invoke` one record per training step (sample, label) in a seeded shuffled
order per epoch, then one record per held-out sample with label -1 (the forward pass only: its logits with the
trained parameters); the harness writes the loss and logits of every record and, at the end, the trained
parameters. The first steps are recomputed by the numpy reference (toolchain/train/run.py) and must agree bit for
bit (loss within 1e-5: the C's logf); a disagreement is a failure (exit 1), never a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .. import cortexm, host, outdir, reference
from ..board import get_board
from ..budget import Schedule, arena_budget
from ..codegen import emit_c
from ..data import TestData, load_test_data, model_inputs
from ..driver import Conversion, Step, compile_model, quiet, search_patch_schedule
from ..errors import InputError, TrainingError, ValidationError
from ..importers import import_model
from ..ir import Graph
from ..memory import MemoryPlan, plan_memory
from ..report import compile_report, write_report
from ..verifier import verify
from .export import write_trained_tflite
from .graph import TrainingOptions, build_training_graph, find_head
from .memory import check_training_budget, memory_per_phase
from .run import TrainState, split_training_outputs, train_step
from .scheme import parse_scheme
from .search import SearchOptions, auto_scheme

TRAINED_TFLITE = "model_trained.tflite"

#: points of the report's loss curve (the mean loss of consecutive blocks of steps)
LOSS_CURVE_POINTS = 200
#: training steps the numpy reference recomputes to check the C (each costs a numpy forward and backward)
CHECKED_STEPS = 8
#: the MAC overhead a patch-based first stage may cost (edgec build's default cap): the frozen first layers of a
#: training step run per spatial patch when layer by layer does not fit the SRAM budget (MCUNetV2's patch-based
#: inference, memory.md)
PATCH_MAC_OVERHEAD = 0.20
#: training steps run with per-layer instruction markers on an emulated board (instructions per step)
MEASURED_STEPS = 2


@dataclass
class TrainResult:
    out: Path
    report: dict
    graph: Graph
    losses: list[float] = field(default_factory=list)


def load_training_data(path: Path, source: Graph, classes: int | None, what: str = "--data") -> TestData:
    """x and integer labels from an .npz, checked: finite values (load_test_data refuses NaN / Inf), labels whole
    numbers in [0, classes)."""
    data = load_test_data(path, source)
    if data.labels is None:
        raise TrainingError(f"{what} {path}: needs an integer `labels` array beside the inputs")
    labels = data.labels
    if classes is not None and (labels.min() < 0 or labels.max() >= classes):
        bad = int(labels[(labels < 0) | (labels >= classes)][0])
        raise TrainingError(f"{what} {path}: label {bad} is outside the {classes} classes (0..{classes - 1}); "
                            "give --classes N for a new head")
    return data


def train(model: Path, out: Path, data_path: Path, board: str = "host", *, scheme_text: str = "last:2",
          epochs: int = 1, options: TrainingOptions | None = None, eval_path: Path | None = None,
          samples: int | None = None, sram_budget: int | None = None, search: SearchOptions | None = None,
          resume: Path | None = None, device: bool = False, conversion: Conversion | None = None,
          step: Step = quiet) -> TrainResult:
    """`resume`: an earlier `edgec train` folder whose trained parameters (trained_params.npz) this run starts
    from (the same model and scheme). `device`: run on the real board over pyOCD instead of the emulator.
    `conversion`: how a float model becomes int8 first (--calib, as edgec build; float32 training graphs are not
    supported: the forward pass is the int8 inference graph)."""
    options = options or TrainingOptions()
    target = get_board(board)
    if target.is_cortexm and not target.fpu:
        raise InputError(f"board `{board}` ({target.core}) has no FPU: the training step computes its gradients in "
                         "float32 (docs/training.md); train on a board with an FPU or on the host")
    if device and not target.is_cortexm:
        raise InputError("--device needs a Cortex-M --board (the real board the probe is connected to)")
    if target.is_cortexm and not target.qemu_machine and not device:
        raise InputError(f"board `{board}` has no emulator: edgec train runs on the host, an emulated board, or "
                         "the real board with --device")
    resumed = load_resume(resume) if resume is not None else None
    step(f"read the training data {data_path}")
    conv = conversion or Conversion()
    source = verify(import_model(model, input_shapes=conv.input_shapes))
    data = load_training_data(data_path, source, options.classes)
    evaluation = load_training_data(eval_path, source, options.classes, "--eval") if eval_path else None
    with outdir.staged(out) as staging:
        s = compile_model(model, board, step, patch=False, conversion=conv)
        g = s.graph
        head, _ = find_head(g)
        classes = options.classes or g.t(head.inputs[1]).shape[0]
        if options.classes is None and (data.labels.max() >= classes):  # type: ignore[union-attr]
            raise TrainingError(f"--data {data_path}: label {int(data.labels.max())} is outside the head's "  # type: ignore[union-attr]
                                f"{classes} classes (0..{classes - 1}); give --classes N for a new head")
        xs = [x[0] for x in model_inputs(data, g)]
        labels = np.asarray(data.labels, np.int64)
        n = min(len(xs), samples) if samples else len(xs)
        searched: dict | None = None
        if scheme_text == "auto":  # the scheme chosen under the budget (search.py)
            scheme, searched = auto_scheme(g, head, xs[:n], labels[:n], options, target, sram_budget, search, step)
        else:
            scheme = parse_scheme(scheme_text, g, head)
        step(f"training graph: scheme {scheme_text}")
        tg = verify(build_training_graph(g, scheme, options))
        if resumed is not None:
            start_from(tg, resumed, resume)  # type: ignore[arg-type]
        step("plan memory (forward, saved tensors, gradients)")
        budget, _ = arena_budget(target, sram_budget)
        tg, plan = plan_step(tg, budget, step)
        if any(op.type == "channel_slice" for op in tg.ops):
            # the sliced saved inputs cost a copy and, while it runs, both tensors: kept only where they lower
            # the arena (docs/training.md, "Only the trained channels saved")
            step("plan the step again with the whole inputs saved")
            whole = verify(build_training_graph(g, scheme, replace(options, slice_saved=False)))
            if resumed is not None:
                start_from(whole, resumed, resume)  # type: ignore[arg-type]
            whole, whole_plan = plan_step(whole, budget, step)
            if whole_plan.arena_bytes <= plan.arena_bytes:
                tg, plan = whole, whole_plan
        if options.gradients == "fp16":
            # fp16 gradients cost conversions at every load and store: kept only where they lower the arena
            # (docs/training.md, "fp16 gradients")
            step("plan the step again with float32 gradients")
            sliced = any(op.type == "channel_slice" for op in tg.ops)
            full = verify(build_training_graph(g, scheme, replace(options, gradients="float32",
                                                                    slice_saved=sliced)))
            if resumed is not None:
                start_from(full, resumed, resume)  # type: ignore[arg-type]
            full, full_plan = plan_step(full, budget, step)
            if full_plan.arena_bytes <= plan.arena_bytes:
                tg, plan = full, full_plan
        memory = memory_per_phase(tg, plan)
        check_training_budget(memory, target, sram_budget, tg, plan)
        step("emit C")
        sources = emit_c(tg, plan, staging)
        rng = np.random.default_rng(options.seed)
        order = [int(i) for _ in range(epochs) for i in rng.permutation(n)]
        eval_xs = [x[0] for x in model_inputs(evaluation, g)] if evaluation else []
        records = [[xs[i], np.array([labels[i]], np.int32)] for i in order]
        records += [[x, np.array([-1], np.int32)] for x in eval_xs]
        measured: dict = {}
        if device:
            from .. import flasher

            step(f"link the firmware for the real {board} and run {len(order)} training steps on it (pyOCD)")
            elf = cortexm.cross_build(staging, sources, target, graph=tg, emulated=False, elf_name="firmware.elf")
            raw = flasher.run_on_device(elf, target, records)
        elif target.is_cortexm:
            step(f"run {len(order)} training steps and {len(eval_xs)} evaluations on the emulated {board}")
            run = cortexm.measure(staging, sources, target, records, graph=tg, per_layer=False)
            raw = run["outputs"]
            step(f"count instructions of {MEASURED_STEPS} training steps per layer")
            measured = cortexm.measure(staging, sources, target, records[:MEASURED_STEPS], graph=tg, per_layer=True)
        else:
            step("compile (host gcc)")
            exe = host.build(staging, sources)
            step(f"run {len(order)} training steps and {len(eval_xs)} evaluations (host)")
            raw = host.run(exe, records)
        losses, logits, params = split_training_outputs(raw, tg, len(records))
        step(f"check the first {min(CHECKED_STEPS, len(order))} steps against the numpy reference")
        check = check_against_numpy(tg, records, losses, logits, min(CHECKED_STEPS, len(order)))
        reason = ("training step: the first layers per spatial patch (smaller arena), then layer by layer"
                  if plan.patch is not None else "training step: layer by layer (forward, then backward)")
        report = compile_report(Schedule(graph=tg, plan=plan, layer_plan=plan, patched_plan=None,
                                         schedule_reason=reason, arena_budget=None, source_graph=tg), model, board)
        report.update(training_report(tg, plan, scheme_text, epochs, options, order, labels, losses, logits, params,
                                      evaluation, len(eval_xs), measured, board, check, model))
        report["training"]["memory"] = memory
        report["training"]["memory_tricks"] = memory_tricks(tg, plan)
        if searched is not None:
            report["training"]["search"] = searched
        if measured:
            report.update(peak_sram_bytes=measured["peak_sram_bytes"], flash_bytes=measured["flash_bytes"])
        arrays: dict = {name: a for name, a in params.items()}
        np.savez(staging / "trained_params.npz", **arrays)  # the trained parameters by tensor name
        step(f"write the trained model ({TRAINED_TFLITE}) and run it in TFLite Micro")
        exported = write_trained_tflite(g, tg, params, logits, staging / TRAINED_TFLITE)
        report["training"]["trained_tflite"] = TRAINED_TFLITE
        if eval_xs:
            tflm_out = reference.run_tflm(staging / TRAINED_TFLITE, [[x] for x in eval_xs])[0]
            tflm_logits = np.stack([np.asarray(o[0]).reshape(-1) for o in tflm_out])
            report["training"]["tflm_eval_accuracy"] = _accuracy(
                tflm_logits.astype(np.float64), np.asarray(evaluation.labels))  # type: ignore[union-attr]
        del exported
        write_report(staging, report, tg, plan)  # report.json / .md and plan.json, as a build writes them
        if not check["passed"]:
            raise ValidationError(f"the C training step differs from the numpy reference: {check['failure']}")
    outdir.record(out, [out / "report.json"])
    return TrainResult(out=out, report=report, graph=tg, losses=losses)


def memory_tricks(tg: Graph, plan: MemoryPlan) -> dict:
    """What the step uses of docs/training.md's memory tricks: the partially trained convs whose frozen weights
    stay in flash (and the SRAM bytes that saves), the channel slices saved instead of whole inputs, and the
    backward ops writing their input gradient in place."""
    sliced = [n for n in tg.meta["training"]["params"] if tg.t(n).mutable_channels]
    return dict(sliced_parameters=sliced,
                frozen_in_flash_bytes=sum(tg.t(n).nbytes - tg.t(n).sram_nbytes for n in sliced),
                channel_slices=sum(op.type == "channel_slice" for op in tg.ops),
                fp16_gradients=sum(t.dtype == "float16" for t in tg.tensors.values()),
                in_place_backward=sum(op.type.endswith("_backward") and plan.is_in_place(op.name) for op in tg.ops))


def plan_step(tg: Graph, budget: int | None, step: Step = quiet) -> tuple[Graph, MemoryPlan]:
    """The training step's memory plan: layer by layer, or, as edgec build does, with the frozen first layers per
    spatial patch when layer by layer does not fit the SRAM budget and a patch-based schedule lowers the arena (a
    patch stage repeats its halos and runs the portable region kernels: it costs instructions)."""
    plan = plan_memory(tg)
    if budget is not None and memory_per_phase(tg, plan)["total_bytes"] > budget:
        step("search patch-based schedules for the frozen first layers")
        patched = search_patch_schedule(tg, PATCH_MAC_OVERHEAD, plan)
        if patched is not None and patched[1].arena_bytes < plan.arena_bytes:
            return patched  # the same ops (marked attrs["patch"]): the numpy reference runs them whole
    return tg, plan


def load_resume(folder: Path) -> dict[str, np.ndarray]:
    """The trained parameters of an earlier `edgec train` folder, by tensor name."""
    path = folder / "trained_params.npz"
    if not path.is_file():
        raise InputError(f"--resume {folder}: no trained_params.npz there (give the folder of an earlier edgec train)")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as e:
        raise InputError(f"--resume {folder}: trained_params.npz is not readable ({e})") from None


def start_from(tg: Graph, params: dict[str, np.ndarray], folder: Path) -> None:
    """Set the training graph's trained parameters to an earlier run's: the same tensors, shapes and types (the
    same model and scheme), else exit 2 naming the first difference."""
    names = tg.meta["training"]["params"]
    if set(names) != set(params):
        missing = sorted(set(names) - set(params)) or sorted(set(params) - set(names))
        raise TrainingError(f"--resume {folder}: that run trained other parameters (e.g. {missing[0]!r}); resume "
                            "with the same model, --scheme and --classes")
    for name in names:
        t = tg.t(name)
        value = params[name]
        assert t.data is not None
        if value.shape != t.data.shape or value.dtype != t.data.dtype:
            raise TrainingError(f"--resume {folder}: {name!r} is {value.dtype}{list(value.shape)} there, "
                                f"{t.data.dtype}{list(t.data.shape)} here; resume with the same model and scheme")
        t.data = np.array(value, copy=True)


def check_against_numpy(tg: Graph, records: list, losses: list[float], logits: np.ndarray, steps: int) -> dict:
    """Recompute the first training steps with the numpy reference: logits (the forward pass and every earlier
    update) bit for bit, loss to 1e-5 relative."""
    state = TrainState.of(tg)
    for k in range(steps):
        x, label = records[k]
        loss, ref_logits = train_step(tg, state, x, int(label[0]))
        if not np.array_equal(ref_logits.reshape(-1).view(np.uint32), logits[k].view(np.uint32)):
            return dict(steps=steps, passed=False, failure=f"step {k}: logits differ")
        if abs(loss - losses[k]) > 1e-5 * max(1.0, abs(loss)):
            return dict(steps=steps, passed=False, failure=f"step {k}: loss {losses[k]} vs {loss}")
    return dict(steps=steps, passed=True, failure=None)


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float | None:
    return float(np.mean(np.argmax(logits, axis=1) == labels)) if len(labels) else None


def training_report(tg: Graph, plan, scheme_text: str, epochs: int, options: TrainingOptions, order: list[int],
                    labels: np.ndarray, losses: list[float], logits: np.ndarray, params: dict,
                    evaluation: TestData | None, n_eval: int, measured: dict, board: str, check: dict,
                    model: Path) -> dict:
    meta = tg.meta["training"]
    steps = len(order)
    per_epoch = max(steps // max(epochs, 1), 1)
    loss_per_epoch = [float(np.mean(losses[e * per_epoch:(e + 1) * per_epoch])) for e in range(epochs)]
    block = max(1, -(-steps // LOSS_CURVE_POINTS))  # the curve's mean loss per block of steps: <= 200 points
    curve = [float(np.mean(losses[k:min(k + block, steps)])) for k in range(0, steps, block)]
    # online accuracy: the logits each step computed before its own update
    last = slice(steps - per_epoch, steps)
    train_acc = _accuracy(logits[last], labels[np.asarray(order[last], np.int64)])
    eval_acc = (_accuracy(logits[steps:steps + n_eval], np.asarray(evaluation.labels))  # type: ignore[union-attr]
                if evaluation is not None else None)
    trained_bytes = sum(tg.t(n).sram_nbytes for n in params)  # SRAM: a partial conv's trained slice only
    report = dict(
        model=model.name, board=board, scheme=scheme_text, trained_layers=meta["layers"], classes=meta["classes"],
        new_head=meta["new_head"], epochs=epochs, steps=steps, lr=options.lr, rounding=options.rounding,
        momentum=options.momentum, weights=options.weights, gradients=meta.get("gradients", "float32"),
        optimizer_state_bytes=sum(tg.t(n).nbytes for n in meta.get("state", [])), seed=options.seed,
        loss_per_epoch=loss_per_epoch, loss_curve=dict(block_steps=block, mean_loss=curve),
        train_accuracy_last_epoch=train_acc,
        eval_samples=n_eval, eval_accuracy=eval_acc, trained_parameter_bytes=trained_bytes,
        trained_parameters={n: list(a.shape) for n, a in params.items()},
        arena_bytes=plan.arena_bytes, numpy_check=check, ops=len(tg.ops), forward_ops=meta["forward_ops"])
    if measured:
        layers = measured.get("layers") or []
        forward = sum(row.get("instructions", 0) for row in layers[:meta["forward_ops"]])
        report.update(peak_sram_bytes=measured["peak_sram_bytes"], flash_bytes=measured["flash_bytes"],
                      instructions_per_step=measured["instructions_per_inference"],
                      instructions_forward=forward or None,
                      instructions_backward=(measured["instructions_per_inference"] - forward) if forward else None,
                      layer_instructions=layers, stack_bytes=measured.get("stack_bytes"))
    return dict(training=report)
