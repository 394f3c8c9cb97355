"""A pipeline's output folder: refuses foreign folders, records finished steps in a manifest, and
lets a rerun resume from the steps whose files still read back unchanged."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import xarray as xr

from .. import __version__
from ..errors import RetinaCodecError
from . import read_netcdf, write_netcdf
from .atomic import atomic_destination, is_temporary
from .run_folder import LOCK_FILE, lock_folder, remove_temporary_files, unlock_folder

MANIFEST = "manifest.json"
"""File that marks a folder as a pipeline's run and lists its finished steps."""
PROGRAM = "retinacodec demo"
"""Default program label of a run (the retina demo's)."""


class SavedResult(Protocol):
    """A result that writes itself to one file (``save``) and whose class reads it back (``load``),
    such as a fitted :class:`~retinacodec.modes.sae.SAE`; see :func:`register_result_kind`."""

    def save(self, path: str | os.PathLike) -> Path: ...

    @classmethod
    def load(cls, path: str | os.PathLike) -> SavedResult: ...


Result = xr.Dataset | xr.DataArray | SavedResult | Path
"""What a step returns per output name: a labeled result or a registered saved result (written
here as ``<name>.nc``), or the path (relative to the folder) of a file the step wrote itself."""
BUILT_IN_KINDS = ("netcdf", "file")
"""Manifest kinds of the outputs a Workspace writes or records itself."""
RESULT_KINDS: dict[str, type[SavedResult]] = {}
"""Manifest kind -> class of the results that save themselves (see :func:`register_result_kind`)."""


def register_result_kind(kind: str, cls: type[SavedResult]) -> None:
    """Let a :class:`Workspace` keep instances of ``cls``: written by ``value.save(path)``, read back
    by ``cls.load(path)`` and recorded as ``kind`` in the manifest.

    Raises
    ------
    RetinaCodecError
        If ``kind`` is one of the :data:`BUILT_IN_KINDS`.
    """
    if kind in BUILT_IN_KINDS:
        raise RetinaCodecError(f"result kind {kind!r} is built in; expected another name for {cls.__name__}")
    RESULT_KINDS[kind] = cls


def _saved_kind(value: object) -> str | None:
    """The registered kind of a result that saves itself, or None."""
    return next((kind for kind, cls in RESULT_KINDS.items() if isinstance(value, cls)), None)


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Workspace:
    """An output folder whose steps run once and are reused by later runs with the same inputs.

    Parameters
    ----------
    folder : str or path-like
        The output folder (created if missing).
    fingerprint : dict
        What the results depend on (model and recording digests, settings, package version); a
        folder holding a run with another fingerprint is refused unless ``overwrite``.
    overwrite : bool
        Write into a folder that holds other files or another run, recomputing every step.
    log : callable, optional
        Called with one line per step (default: print to stderr).
    program : str
        What kind of run the folder holds (recorded in the manifest as ``program``; a folder of
        another program is refused like any foreign folder).

    Raises
    ------
    RetinaCodecError
        If ``folder`` is a file, another process's run is writing it, or it holds files of
        something else (or another run) and ``overwrite`` is False.

    Notes
    -----
    The folder is locked (:func:`~retinacodec.io.run_folder.lock_folder`) from construction
    until :meth:`close` (or garbage collection, or the interpreter's exit). Temporary files that
    a killed run's atomic writes left behind are removed on construction and on close.
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        fingerprint: dict,
        overwrite: bool = False,
        log: Callable[[str], None] | None = None,
        program: str = PROGRAM,
    ):
        self.folder = Path(folder)
        self.program = program
        self.fingerprint = json.loads(json.dumps(fingerprint))
        self.log = log or (lambda line: print(line, file=sys.stderr))
        if self.folder.exists() and not self.folder.is_dir():
            raise RetinaCodecError(f"{self.folder} is a file; expected an output folder")
        self.folder.mkdir(parents=True, exist_ok=True)
        lock_folder(self.folder, f"one {self.program} run at a time in a folder (wait for it or choose another)")
        try:
            previous = self._previous_manifest()
            self._check_contents(previous, overwrite)
        except BaseException:
            unlock_folder(self.folder)
            raise
        self._finalizer = weakref.finalize(self, _finish, self.folder)
        remove_temporary_files(self.folder)
        self.steps: dict = (
            dict(previous["steps"])
            if previous is not None and not overwrite and previous.get("fingerprint") == self.fingerprint
            else {}
        )
        self.resumed: list[str] = []
        self._save()

    def _check_contents(self, previous: dict | None, overwrite: bool) -> None:
        """Refuse a folder holding other files or another run, unless ``overwrite``."""
        contents = sorted(p.name for p in self.folder.iterdir() if p.name != LOCK_FILE and not is_temporary(p))
        if not contents or overwrite:
            return
        if previous is None:
            shown = ", ".join(contents[:5]) + (", ..." if len(contents) > 5 else "")
            raise RetinaCodecError(
                f"{self.folder} exists and holds other files ({shown}); expected a new or "
                f"empty folder or an interrupted {self.program} run "
                "(pass --overwrite to write into it)"
            )
        if previous.get("fingerprint") != self.fingerprint:
            raise RetinaCodecError(
                f"{self.folder} holds a {self.program} run of another model, recording or "
                "settings; expected the same inputs to resume (pass --overwrite to replace it)"
            )

    def close(self) -> None:
        """Finish with the folder: remove leftover temporary files and release its lock (also done
        when the Workspace is garbage-collected or the interpreter exits)."""
        self._finalizer()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _previous_manifest(self) -> dict | None:
        path = self.folder / MANIFEST
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return manifest if isinstance(manifest, dict) and manifest.get("program") == self.program else None

    def _save(self) -> None:
        manifest = {
            "program": self.program,
            "retinacodec_version": __version__,
            "fingerprint": self.fingerprint,
            "steps": self.steps,
        }
        with atomic_destination(self.folder / MANIFEST) as tmp:
            tmp.write_text(json.dumps(manifest, indent=1) + "\n")

    def path(self, name: str) -> Path:
        """Path of a file in the folder."""
        return self.folder / name

    def run(self, step: str, compute: Callable[[], dict[str, Result]]) -> dict[str, Result]:
        """The outputs of a step: read back when a previous run finished it, else computed and written.

        Parameters
        ----------
        step : str
            Step name (unique within the run).
        compute : callable
            Returns ``{output name: result}``; xarray results and registered saved results
            (:func:`register_result_kind`) are written atomically as ``<name>.nc`` (paths are files
            the step wrote itself, relative to the folder).

        Returns
        -------
        dict
            The outputs as read back from their files (so a resumed run sees the same numbers).
        """
        record = self.steps.get(step)
        if record is not None:
            loaded = self._load(record)
            if loaded is not None:
                self.resumed.append(step)
                self.log(f"{step}: finished earlier ({record['seconds']:.0f} s), read back")
                return loaded
            self.log(f"{step}: earlier files missing or changed, recomputing")
        started = time.perf_counter()
        outputs = compute()
        files = {}
        for name, value in outputs.items():
            if isinstance(value, Path):
                files[name] = {"file": value.as_posix(), "kind": "file"}
                continue
            file, kind = f"{name}.nc", _saved_kind(value)
            if isinstance(value, (xr.Dataset, xr.DataArray)):
                write_netcdf(value, self.folder / file)
            elif kind is not None:
                value.save(self.folder / file)
            else:
                raise RetinaCodecError(
                    f"step {step!r} returned a {type(value).__name__} as {name!r}; expected an xarray Dataset "
                    "or DataArray, a result of a registered kind or the path of a file it wrote"
                )
            files[name] = {"file": file, "kind": kind or "netcdf"}
        for entry in files.values():
            entry["sha256"] = file_digest(self.folder / entry["file"])
        seconds = time.perf_counter() - started
        self.steps[step] = {"outputs": files, "seconds": seconds}
        self._save()
        self.log(f"{step}: done in {seconds:.0f} s")
        written = self._load(self.steps[step])
        if written is None:
            raise RetinaCodecError(f"{step}: the files just written in {self.folder} do not read back unchanged")
        return written

    def _load(self, record: dict) -> dict[str, Result] | None:
        """The outputs of a finished step, or None when a file is missing, changed or unreadable (or
        of a kind no class is registered for)."""
        loaded: dict[str, Result] = {}
        for name, entry in record["outputs"].items():
            path = self.folder / entry["file"]
            if not path.is_file() or file_digest(path) != entry["sha256"]:
                return None
            try:
                if entry["kind"] == "netcdf":
                    loaded[name] = read_netcdf(path)
                elif entry["kind"] == "file":
                    loaded[name] = Path(entry["file"])
                else:
                    loaded[name] = RESULT_KINDS[entry["kind"]].load(path)
            except (RetinaCodecError, OSError, KeyError, ValueError):
                return None
        return loaded

    def seconds(self) -> dict[str, float]:
        """Wall time (s) each finished step took when it was computed."""
        return {step: float(record["seconds"]) for step, record in self.steps.items()}


def _finish(folder: Path) -> None:
    """Remove a finished Workspace's leftover temporary files and release its folder's lock."""
    remove_temporary_files(folder)
    unlock_folder(folder)
