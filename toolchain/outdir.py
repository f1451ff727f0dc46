"""The output folder: what edgec may replace, and how it replaces it without ever losing a file (docs/cli.md,
"Safety of your files").

Every folder edgec writes holds a manifest, `.edgec-manifest.json`: the edgec version and every file edgec wrote
with its size and sha256 (no timestamps: two builds of the same model are byte-identical). edgec replaces a folder
only when it is empty or holds exactly the files of its manifest, unmodified; anything else exits 2 naming the
folder and the unexpected, modified or missing files. A build is generated in a hidden staging folder beside
`--out` and swapped in by renames only once complete: the old folder is moved aside (and checked once more), the
new one moved in, and only then is the old one deleted; on any failure the old one is put back. Commands that add
files to a folder after the build (`edgec test`, `edgec report --html`, `edgec flash --emulate`) call `record`
so the manifest stays true and the folder can still be rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import stat
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from . import __version__
from .errors import InputError, raise_if_interrupted

MANIFEST = ".edgec-manifest.json"
_MANIFEST_TMP = MANIFEST + ".tmp"  # written then renamed over the manifest; a leftover one is edgec's own
SHOWN = 5  # files named in a message before "and N more"


def file_entry(path: Path) -> dict:
    data = path.read_bytes()
    return dict(sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def write_manifest(folder: Path, files: dict[str, dict]) -> None:
    """Atomically (temporary file + rename), with sorted keys: the same files give the same bytes."""
    text = json.dumps(dict(edgec_version=__version__, files=dict(sorted(files.items()))), indent=1, sort_keys=True)
    tmp = folder / _MANIFEST_TMP
    tmp.write_text(text + "\n")
    os.replace(tmp, folder / MANIFEST)


def seal(folder: Path) -> None:
    """Write the manifest of a freshly built folder: every file in it."""
    files = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if rel not in (MANIFEST, _MANIFEST_TMP) and path.is_file() and not path.is_symlink():
            files[rel] = file_entry(path)
    write_manifest(folder, files)


def read_manifest(folder: Path) -> dict[str, dict] | None:
    """The manifest's files, or None when the folder has none or it does not parse."""
    try:
        data = json.loads((folder / MANIFEST).read_text())
        files = data["files"]
        if not isinstance(files, dict) or not all(
                isinstance(v, dict) and isinstance(v.get("size"), int) and isinstance(v.get("sha256"), str)
                for v in files.values()):
            return None
        return files
    except (OSError, ValueError, KeyError, TypeError):
        return None


def record(out: Path, paths: Iterable[Path]) -> None:
    """Add or refresh `paths` (files, or folders: every file under them) in the manifest of `out` after edgec wrote
    them; a recorded path that no longer exists is dropped. A folder without a manifest is not edgec's to manage:
    nothing is recorded (and it will not be replaced)."""
    files = read_manifest(out)
    if files is None:
        return
    root = out.resolve()
    for path in paths:
        path = path.resolve()
        if not path.is_relative_to(root):
            continue
        rel = path.relative_to(root).as_posix()
        for name in [k for k in files if k == rel or k.startswith(rel + "/")]:
            del files[name]
        found = sorted(path.rglob("*")) if path.is_dir() and not path.is_symlink() else [path]
        for f in found:
            if f.is_file() and not f.is_symlink():
                files[f.relative_to(root).as_posix()] = file_entry(f)
    write_manifest(out, files)


def _listing(names: list[str]) -> str:
    names = sorted(names)
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more


def _contents(folder: Path) -> tuple[set[str], set[str]]:
    """(files, folders) under `folder` as relative paths; symbolic links count as files (never followed)."""
    files: set[str] = set()
    folders: set[str] = set()
    for root, dirs, names in os.walk(folder):
        base = Path(root).relative_to(folder)
        for d in list(dirs):
            if (Path(root) / d).is_symlink():
                dirs.remove(d)
                names.append(d)
            else:
                folders.add((base / d).as_posix())
        files.update((base / n).as_posix() for n in names)
    return files, folders


def _is_unmodified(path: Path, entry: dict) -> bool:
    try:
        st = path.lstat()
        return stat.S_ISREG(st.st_mode) and st.st_size == entry["size"] and file_entry(path) == entry
    except OSError:  # unreadable: not provably edgec's file
        return False


def check_replaceable(out: Path, shown_as: Path | None = None) -> None:
    """Raise InputError (exit 2) unless `out` may be replaced: it does not exist, is an empty folder, or holds
    exactly the files of its edgec manifest, unmodified. `shown_as` names the folder in the message."""
    name = shown_as or out
    if out.is_symlink():
        raise InputError(f"--out {name} is a symbolic link; edgec does not replace a link (nor what it points to): "
                         "give the real folder, or another --out")
    if not out.exists():
        return
    if not out.is_dir():
        raise InputError(f"--out {name} is a file, not a folder; edgec will not replace it (choose another --out)")
    try:
        entries = sorted(p.name for p in out.iterdir())
    except OSError as e:
        raise InputError(f"cannot read the output folder {name}: {e.strerror}") from None
    if not entries:
        return
    files = read_manifest(out)
    refuse = (f"{name} is not an edgec output folder as edgec wrote it, so edgec will not replace it (it replaces a "
              f"folder only if it holds exactly the files listed in its {MANIFEST}); nothing was changed: choose "
              "another --out, or move the files away")
    if files is None:
        why = "no manifest" if MANIFEST not in entries else "an unreadable manifest"
        raise InputError(f"{refuse}\n  it has {why} and holds: {_listing(entries)}")
    present, folders = _contents(out)
    present -= {MANIFEST, _MANIFEST_TMP}
    expected_folders = {p.as_posix() for f in files for p in Path(f).parents} - {"."}
    unexpected = sorted(present - set(files)) + sorted(d + "/" for d in folders - expected_folders)
    missing = sorted(set(files) - present)
    modified = sorted(f for f in set(files) & present if not _is_unmodified(out / f, files[f]))
    problems = [f"  {what}: {_listing(names)}" for what, names in
                (("unexpected", unexpected), ("modified", modified), ("missing", missing)) if names]
    if problems:
        raise InputError("\n".join([refuse, *problems]))


def _check_path(out: Path) -> None:
    """Path cases that no folder check sees: the current folder's ancestors, a file on the way, a too-long name."""
    try:
        limit = os.pathconf(".", "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    for part in out.absolute().parts:
        if len(os.fsencode(part)) > limit:
            raise InputError(f"--out {out}: the name {part[:40]}... is {len(os.fsencode(part))} bytes long; the file "
                             f"system allows {limit}")
    here, target = os.path.realpath(os.getcwd()), os.path.realpath(out)
    if target != here and here.startswith(target.rstrip(os.sep) + os.sep):
        raise InputError(f"--out {out} contains the current folder ({here}); edgec will not replace a folder you are "
                         "working in: choose another --out")
    for parent in out.absolute().parents:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise InputError(f"--out {out}: {parent} is not a folder")
            break



def _umask() -> int:
    """The process's umask (it can only be read by setting it; set back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask

@contextmanager
def staged(out: Path) -> Iterator[Path]:
    """A staging folder beside `out` to build into; when the block completes, it is sealed (manifest) and swapped
    in for `out`. Nothing is left behind on failure or interruption: no staging folder, no parent folders it
    created, and the old `out` as it was. Bad paths are InputError (exit 2) before anything is written."""
    _check_path(out)
    in_place = out.exists() and os.path.realpath(out) == os.path.realpath(os.getcwd())
    check_replaceable(out, shown_as=Path.cwd() if in_place else out)  # `--out .`: name the folder
    parent = out.absolute().parent
    created = [p for p in [parent, *parent.parents] if not p.exists()]
    staging = None
    try:
        try:
            parent.mkdir(parents=True, exist_ok=True)
            # a short prefix: the staging name must fit the file system's name limit whatever out's length
            staging = Path(tempfile.mkdtemp(prefix=f".{out.absolute().name[:40]}.", dir=parent))
            staging.chmod(0o777 & ~_umask())  # mkdtemp's folder is private (0700); the output gets mkdir's mode
        except OSError as e:
            raise InputError(f"cannot write the output folder {out}: {e.strerror} ({e.filename})") from None
        yield staging
        seal(staging)
        raise_if_interrupted()  # a signal whose exception a callback swallowed still stops the swap
        with _signals_held():  # a Ctrl-C or SIGTERM now is delivered after the swap: never a half-swapped folder
            try:
                (_swap_contents if in_place else _swap)(out, staging)
            except OSError as e:
                raise InputError(f"cannot replace the output folder {out}: {e.strerror} ({e.filename}); it was "
                                 "left as it was") from None
    finally:
        with _signals_held():  # the cleanup itself is not interrupted by a second signal
            if staging is not None and staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
            for p in created:  # innermost first; only the ones still empty (a failed build wrote nothing there)
                try:
                    p.rmdir()
                except OSError:
                    break


@contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM are held (blocked) in this thread during the block and delivered when it ends."""
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _swap(out: Path, staging: Path) -> None:
    """Rename out aside, check it once more (nothing may have appeared in it while building), rename staging in,
    then delete the old one; on any failure the old folder is put back."""
    if not out.exists():
        staging.rename(out)
        return
    old = staging.with_name(staging.name + ".old")
    out.rename(old)
    try:
        check_replaceable(old, shown_as=out)
        staging.rename(out)
    except BaseException:
        old.rename(out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _swap_contents(out: Path, staging: Path) -> None:
    """`--out .`: the current folder itself is kept (a shell in it stays valid) and its entries are swapped: the
    old ones moved aside into a hidden folder beside it, the new ones moved in, the old ones deleted; on failure
    the new entries go back to staging and the old ones come back."""
    old = staging.with_name(staging.name + ".old")
    old.mkdir()
    moved_out: list[str] = []
    moved_in: list[str] = []
    try:
        for entry in sorted(out.iterdir()):
            entry.rename(old / entry.name)
            moved_out.append(entry.name)
        check_replaceable(old, shown_as=Path.cwd())
        for entry in sorted(staging.iterdir()):
            entry.rename(out / entry.name)
            moved_in.append(entry.name)
    except BaseException:
        for name in moved_in:
            (out / name).rename(staging / name)
        for name in moved_out:
            (old / name).rename(out / name)
        old.rmdir()
        raise
    shutil.rmtree(old, ignore_errors=True)


def sources_of(out: Path) -> list[str]:
    """The C sources of an existing output folder, as emit_c lists them."""
    if not (out / "model.c").is_file():
        raise InputError(f"{out} is not an edgec output folder (no model.c); run `edgec build` first")
    return ["model.c", "weights.c", "main.c"] + sorted(f"runtime/{p.name}" for p in (out / "runtime").glob("*.c"))
