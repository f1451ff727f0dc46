"""The user-facing errors of edgec and the exit codes they map to (docs/cli.md, "Exit codes").

Every error a user can cause is one of these; the CLI prints `message` (a few plain lines) and exits with `code`.
Anything else escaping is a bug in edgec and is shown with its traceback.
"""

EXIT_OK = 0
EXIT_VALIDATION = 1  # outputs differ from the reference beyond tolerance
EXIT_INPUT = 2  # usage or input error: bad file, unsupported op, unknown board
EXIT_BUDGET = 3  # does not fit the SRAM / flash budget
EXIT_TOOLCHAIN = 4  # compiler, emulator or probe missing or failed


class EdgecError(Exception):
    code = EXIT_INPUT

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InputError(EdgecError):
    """Bad model file, unsupported operator or attribute, bad data file, unknown board."""

    code = EXIT_INPUT


class UnsupportedError(InputError):
    """The model uses operators or attributes edgec does not support; lists all of them."""

    def __init__(self, problems: list[str]):
        lines = ["the model uses what edgec does not support:"] + [f"  - {p}" for p in problems]
        lines.append("run `edgec ops` for the supported operators and their constraints")
        super().__init__("\n".join(lines))
        self.problems = problems


class TrainingError(InputError):
    """The model or scheme cannot be trained (exit 2): no classifier head, an op without a gradient rule below a
    trained layer, nothing trainable, bad training data."""


class BudgetError(EdgecError):
    """The model does not fit the SRAM or flash budget. `weights_bytes`: the model's weights, set when the arena
    did not fit, so that a caller knowing a flash budget can tell of the flash too (budget.flash_too)."""

    code = EXIT_BUDGET

    def __init__(self, message: str, weights_bytes: int | None = None):
        super().__init__(message)
        self.weights_bytes = weights_bytes


class ToolchainError(EdgecError):
    code = EXIT_TOOLCHAIN


class ValidationError(EdgecError):
    code = EXIT_VALIDATION


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C so cleanup runs; the CLI exits 143 (128 + 15)."""


#: The interrupt the CLI's signal handlers last raised, kept because Python drops an exception raised where it
#: cannot propagate (a weakref or import-lock callback, a __del__): the stages and the folder swap re-raise it.
_pending_interrupt: list[KeyboardInterrupt] = []


def interrupt(exc: KeyboardInterrupt) -> None:
    """Signal handler body: remember the interrupt, then raise it."""
    _pending_interrupt.append(exc)
    raise exc


def raise_if_interrupted() -> None:
    """Re-raise an interrupt a callback swallowed (called between stages and before the output folder swap)."""
    if _pending_interrupt:
        raise _pending_interrupt[-1]
