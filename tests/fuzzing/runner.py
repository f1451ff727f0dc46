"""Run `edgec build` on mutants in a pool of long-lived worker processes and classify every outcome.

Each worker imports edgec once and calls the click command the `edgec` executable calls (`cli.main` with
standalone_mode=False, `--debug` so an internal error carries its traceback), catching SystemExit. Outcomes:
- `exit`: the CLI exited with a code of the contract (0 ok, 1, 2 bad input, 3 budget, 4 toolchain);
- `internal`: exit 5, or an exception that escaped the CLI (a bug: input must never reach it);
- `hang`: the mutant did not finish within the timeout (the worker is killed and replaced);
- `crash`: the worker died (a signal, e.g. SIGSEGV in a native library) and is replaced.
A mutant that builds (exit 0) has its generated C compiled with ASan+UBSan (-fno-sanitize-recover=all) and run on
a few random inputs; identical C (same sha256 of the sources) is compiled once.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import multiprocessing as mp
import os
import re
import resource
import shutil
import signal
import subprocess
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path

from .mutators import mutate
from .seeds import Seed

MEMORY_LIMIT = 4 << 30  # address space of a worker: a mutant declaring a huge tensor fails there, not on the machine
SANITIZER_SAMPLES = 3
SANITIZER_RUN_TIMEOUT_S = 60
SANITIZER_COMPILE_ALLOWANCE_S = 240


@dataclass
class Task:
    seed: str  # seed model name
    mutant_seed: int


@dataclass
class Outcome:
    seed: str
    mutant_seed: int
    family: str = ""
    mutator: str = ""
    steps: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)
    kind: str = "exit"  # exit, internal, hang, crash
    code: int | None = None
    message: str = ""  # the first line of the error message
    where: str = ""  # internal errors: the innermost edgec frame (file:function)
    detail: str = ""  # internal errors: the traceback's tail; sanitizer findings: the report
    sanitizer: str = "not run"  # not run, clean, duplicate, skipped, finding, compile error, hang
    injection: str = ""  # a hostile name's payload found as code in the generated C (the line)
    seconds: float = 0.0
    finished: float = 0.0  # time.time() when the result came back (wall time of a run from its log)

    @property
    def is_finding(self) -> bool:
        return self.kind in ("internal", "hang", "crash") or self.sanitizer in ("finding", "compile error", "hang") \
            or bool(self.injection)


# ---- inside a worker ----------------------------------------------------------------------------------------


def _first_error_line(text: str) -> str:
    for line in text.splitlines():
        if line.startswith(("error:", "internal error:", "Error:")):
            return line.strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _json_message(text: str) -> str:
    """`--json` may report a failure as a JSON object on stdout: its message's first line."""
    try:
        obj = json.loads(text.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return ""
    message = obj.get("message") or obj.get("error") or "" if isinstance(obj, dict) else ""
    return str(message).splitlines()[0] if message else ""


def _innermost_edgec_frame(tb_text: str) -> str:
    frames = re.findall(r'File "([^"]+)", line (\d+), in (\S+)', tb_text)
    ours = [f for f in frames if "/toolchain/" in f[0] or "/edgec/" in f[0]]
    if not ours:
        return f"{Path(frames[-1][0]).name}:{frames[-1][2]}" if frames else ""
    path, line, fn = ours[-1]
    return f"toolchain/{path.split('/toolchain/')[-1] if '/toolchain/' in path else Path(path).name}:{fn}"


def source_digest(out: Path) -> str:
    """sha256 over the generated C (sources and headers, runtime included): equal digests, equal programs."""
    h = hashlib.sha256()
    for p in sorted(out.rglob("*")):
        if p.is_file() and p.suffix in (".c", ".h"):
            h.update(str(p.relative_to(out)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


# the payloads of mutators.HOSTILE_NAMES, as they would read had a name reached the C unescaped
INJECTED = re.compile(r"\bint\s+edgec_injected_global\s*=|^\s*#\s*error\s+injected", re.M)
COMMENTS_AND_STRINGS = re.compile(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"', re.S)


def injected_code(out: Path) -> str:
    """The first line of generated C, Make or CMake text where a hostile name's payload is code (outside comments
    and string literals), or ''."""
    for p in sorted(out.rglob("*")):
        if p.is_file() and (p.suffix in (".c", ".h", ".ld", ".cmake") or p.name in ("Makefile", "CMakeLists.txt")):
            code = COMMENTS_AND_STRINGS.sub(" ", p.read_text(errors="replace"))
            m = INJECTED.search(code)
            if m:
                line = code[code.rfind("\n", 0, m.start()) + 1:code.find("\n", m.end())]
                return f"{p.relative_to(out)}: {line.strip()[:200]}"
    return ""


def _unlimited_address_space() -> None:  # ASan reserves terabytes of shadow memory: lift the worker's cap
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (hard, hard))


INCLUDE = re.compile(rb'^\s*#\s*include\s*"([^"]+)"', re.M)


def _object_key(out: Path, source: Path, flags: list[str]) -> str:
    """sha256 of the flags, the source and every header it includes (transitively, quoted includes searched
    beside the including file and in the folder root, as -I. does): equal keys, equal object files."""
    h = hashlib.sha256(" ".join(flags).encode() + b"\0" + str(source.relative_to(out)).encode())
    seen: set[Path] = set()
    todo = [source]
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        text = f.read_bytes()
        h.update(b"\0" + str(f.relative_to(out)).encode() + b"\0" + text)
        for name in INCLUDE.findall(text):
            for base in (f.parent, out):
                cand = base / name.decode(errors="replace")
                if cand.is_file():
                    todo.append(cand)
                    break
    return h.hexdigest()


def sanitizer_build(out: Path, sources: list[str], objects: Path) -> Path:
    """The suite's sanitizer build (toolchain/host.py: CFLAGS + SANITIZE) of an output folder, one object file per
    source; the runtime kernels' objects are cached by `_object_key` in `objects`, so the kernels most mutants
    share compile once. Raises ToolchainError with the compiler's message."""
    from edgec import host
    from edgec.errors import ToolchainError

    cc = host.find_cc()
    flags = [*host.CFLAGS, *host.SANITIZE]
    objs = []
    for src in sources:
        # the runtime kernels are shared by most mutants: cached; the model's own files are compiled in place
        shared = src.startswith("runtime/")
        obj = objects / f"{_object_key(out, out / src, flags)}.o" if shared else out / f"{Path(src).stem}.asan.o"
        if not shared or not obj.is_file():
            tmp = obj.with_suffix(f".{os.getpid()}.tmp.o")
            res = subprocess.run([cc, *flags, "-I.", "-c", "-o", str(tmp), src], cwd=out, capture_output=True,
                                 text=True)
            if res.returncode != 0:
                raise ToolchainError(f"the C compiler failed on {src}:\n{res.stderr.strip()[:3000]}")
            tmp.replace(obj)
        objs.append(str(obj))
    exe = out / "model_asan"
    res = subprocess.run([cc, *flags, "-o", str(exe), *objs, "-lm"], capture_output=True, text=True)
    if res.returncode != 0:
        raise ToolchainError(f"linking the sanitizer build failed:\n{res.stderr.strip()[:3000]}")
    return exe


def _sanitize(build, mutant_seed: int, claims: Path, limit: int | None) -> tuple[str, str]:
    """Compile the build's C with ASan+UBSan once per distinct source digest and run it on random inputs."""
    from edgec.data import random_inputs
    from edgec.errors import EdgecError

    digest = source_digest(build.out)
    try:
        (claims / digest).mkdir()
    except FileExistsError:
        return "duplicate", ""
    if limit is not None and len(os.listdir(claims)) > limit:
        return "skipped", ""
    objects = claims.parent / "objects"
    objects.mkdir(exist_ok=True)
    try:
        exe = sanitizer_build(build.out, build.sources, objects)
    except EdgecError as e:
        return "compile error", e.message[:3000]
    xs = random_inputs(build.graph, SANITIZER_SAMPLES, seed=mutant_seed)
    payload = b"".join(x.tobytes() for sample in xs for x in sample)
    try:
        res = subprocess.run([str(exe), str(len(xs))], input=payload, capture_output=True,
                             timeout=SANITIZER_RUN_TIMEOUT_S, preexec_fn=_unlimited_address_space)
    except subprocess.TimeoutExpired:
        return "hang", f"the sanitizer build did not finish {len(xs)} samples in {SANITIZER_RUN_TIMEOUT_S} s"
    stderr = res.stderr.decode(errors="replace")
    if res.returncode != 0 or "runtime error" in stderr or "Sanitizer" in stderr:
        return "finding", f"exit {res.returncode}\n{stderr.strip()[:3000]}"
    return "clean", ""


@dataclass
class CliRun:
    """One in-process run of the `edgec` command line."""

    code: int | None  # the exit code (None: an exception escaped the CLI)
    internal: bool  # exit 5 or an escaped exception: a bug
    message: str  # the first line of the error message
    where: str  # internal errors: the innermost edgec frame
    detail: str  # internal errors: the traceback's tail
    stdout: str
    builds: list  # the driver.Build of every driver.build call the command made


def invoke_cli(argv: list[str]) -> CliRun:
    """`edgec --debug ARGV` in this process: the click command the executable runs (standalone_mode=False, so
    SystemExit and click's usage errors are caught here and turned into the exit codes the executable returns)."""
    import click

    from edgec import cli, driver

    builds = []
    real_build = driver.build

    def recording_build(*args, **kwargs):  # the CLI's own call, observed to get the Build for the sanitizer run
        b = real_build(*args, **kwargs)
        builds.append(b)
        return b

    stdout, stderr = io.StringIO(), io.StringIO()
    escaped = ""
    driver.build = recording_build
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                cli.main.main(["--debug", *argv], prog_name="edgec", standalone_mode=False)
                code: int | None = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except click.ClickException as e:
                code = e.exit_code
                print(f"error: {e.format_message()}", file=stderr)
            except click.exceptions.Abort:
                code = 1
            except Exception:
                code, escaped = None, traceback.format_exc()[-3000:]
    finally:
        driver.build = real_build
    text = stderr.getvalue()
    if escaped:
        return CliRun(None, True, escaped.strip().splitlines()[-1], _innermost_edgec_frame(escaped), escaped,
                      stdout.getvalue(), builds)
    if code == cli.EXIT_INTERNAL:
        return CliRun(code, True, _first_error_line(text), _innermost_edgec_frame(text), text[-3000:],
                      stdout.getvalue(), builds)
    message = (_first_error_line(text) or _json_message(stdout.getvalue())) if code else ""
    return CliRun(code, False, message, "", "", stdout.getvalue(), builds)


def run_one(seed: Seed, mutant_seed: int, folder: Path, claims: Path, sanitize_limit: int | None,
            notify: Callable[[str], None] = lambda phase: None) -> Outcome:
    """Make the mutant, run `edgec build` on it in this process the way the CLI does, classify the result."""
    start = time.monotonic()
    mutant = mutate(seed.data, seed.fmt, mutant_seed)
    options = seed.options(mutant_seed)
    o = Outcome(seed.name, mutant_seed, mutant.family, mutant.mutator, mutant.steps, options)
    model = folder / f"mutant.{seed.fmt}"
    model.write_bytes(mutant.data)
    out = folder / "out"
    shutil.rmtree(out, ignore_errors=True)
    run = invoke_cli(["build", str(model), "--out", str(out), "--json", *options])
    o.code, o.message, o.where, o.detail = run.code, run.message, run.where, run.detail
    if run.internal:
        o.kind = "internal"
    elif run.code == 0 and run.builds:
        o.injection = injected_code(out)
        notify("sanitize")
        o.sanitizer, o.detail = _sanitize(run.builds[0], mutant_seed, claims, sanitize_limit)
    o.seconds = time.monotonic() - start
    return o


def _worker(conn: Connection, seeds: dict[str, Seed], folder: Path, claims: Path, sanitize_limit: int | None,
            memory_limit: int | None) -> None:
    os.setpgrp()  # own process group: a hang is killed with the compilers and reference runs it started
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when the run stops
    if memory_limit:
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, hard))
    folder.mkdir(parents=True, exist_ok=True)
    import edgec.cli  # noqa: F401  (once per worker: the point of the pool)

    parent = os.getppid()
    while True:
        while not conn.poll(1.0):  # the other workers hold this pipe's far end too: watch for an orphaned worker
            if os.getppid() != parent:
                return
        task = conn.recv()
        if task is None:
            return
        outcome = run_one(seeds[task.seed], task.mutant_seed, folder, claims, sanitize_limit,
                          notify=lambda phase: conn.send(("phase", phase)))
        conn.send(("done", outcome))


# ---- the pool ---------------------------------------------------------------------------------------------------


@dataclass
class _Slot:
    number: int
    process: mp.Process
    conn: Connection
    task: Task | None = None
    deadline: float = 0.0
    started: float = 0.0


class Pool:
    """Long-lived workers; a worker that hangs past the timeout is killed, one that dies is replaced."""

    def __init__(self, seeds: list[Seed], workdir: Path, workers: int = 2, timeout: float = 60.0,
                 sanitize_limit: int | None = None, memory_limit: int | None = MEMORY_LIMIT):
        self.seeds = {s.name: s for s in seeds}
        self.workdir, self.timeout, self.sanitize_limit, self.memory_limit = workdir, timeout, sanitize_limit, \
            memory_limit
        self.claims = workdir / "sanitized"
        self.claims.mkdir(parents=True, exist_ok=True)
        self.ctx = mp.get_context("spawn")  # not fork: the run may be in a threaded process (pytest-xdist)
        self.slots = [self._spawn(k) for k in range(workers)]

    def _spawn(self, number: int) -> _Slot:
        parent, child = self.ctx.Pipe()
        p = self.ctx.Process(target=_worker, args=(child, self.seeds, self.workdir / f"w{number}", self.claims,
                                                   self.sanitize_limit, self.memory_limit), daemon=True)
        p.start()
        child.close()
        return _Slot(number, p, parent)

    def _kill(self, slot: _Slot) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(slot.process.pid, signal.SIGKILL)  # the worker's group: it and its children
        if slot.process.is_alive():
            slot.process.kill()
        slot.process.join(5)
        slot.conn.close()

    def _replace(self, slot: _Slot) -> _Slot:
        self._kill(slot)
        new = self._spawn(slot.number)
        self.slots[self.slots.index(slot)] = new
        return new

    def run(self, tasks: Iterable[Task]) -> Iterator[Outcome]:
        pending = iter(tasks)
        exhausted = False
        while True:
            for slot in self.slots:
                if slot.task is None and not exhausted:
                    task = next(pending, None)
                    if task is None:
                        exhausted = True
                        break
                    slot.task, slot.started = task, time.monotonic()
                    slot.deadline = slot.started + self.timeout
                    slot.conn.send(task)
            busy = [s for s in self.slots if s.task is not None]
            if not busy:
                return
            ready = wait([s.conn for s in busy], timeout=0.5)
            for slot in busy:
                task = slot.task
                assert task is not None
                if slot.conn in ready:
                    try:
                        kind, value = slot.conn.recv()
                    except (EOFError, OSError):
                        slot.process.join(5)
                        code = slot.process.exitcode
                        name = signal.Signals(-code).name if code is not None and code < 0 else f"exit {code}"
                        yield self._lost(task, "crash", f"the worker died: {name}", slot)
                        self._replace(slot)
                        continue
                    if kind == "phase":  # the build is done; compiling with sanitizers takes longer
                        slot.deadline = time.monotonic() + self.timeout + SANITIZER_COMPILE_ALLOWANCE_S
                        continue
                    slot.task = None
                    value.finished = time.time()
                    yield value
                elif time.monotonic() > slot.deadline:
                    yield self._lost(task, "hang", f"no result within {slot.deadline - slot.started:.0f} s", slot)
                    self._replace(slot)

    def _lost(self, task: Task, kind: str, message: str, slot: _Slot) -> Outcome:
        """The outcome of a task whose worker hung or died: the mutant is remade here for the record."""
        seed = self.seeds[task.seed]
        m = mutate(seed.data, seed.fmt, task.mutant_seed)
        return Outcome(task.seed, task.mutant_seed, m.family, m.mutator, m.steps, seed.options(task.mutant_seed),
                       kind=kind, message=message, seconds=time.monotonic() - slot.started, finished=time.time())

    def close(self) -> None:
        for slot in self.slots:
            with contextlib.suppress(OSError, BrokenPipeError):
                slot.conn.send(None)
        for slot in self.slots:
            slot.process.join(10)
            if slot.process.is_alive():
                self._kill(slot)

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def tasks(seeds: list[Seed], count: int, run_seed: int) -> list[Task]:
    """`count` mutants spread round-robin over the seeds; mutant seeds are run_seed * 10^7 + k (k = 0, 1, ...),
    so runs with different --seed values never share a mutant."""
    return [Task(seeds[k % len(seeds)].name, run_seed * 10_000_000 + k) for k in range(count)]


def outcome_json(o: Outcome) -> str:
    return json.dumps(asdict(o))
