"""Chunks of the sample axis and the job folder's manifest of finished, verified parts.

A job folder holds one netCDF part per finished chunk (``part-000000.nc``, ...) and
``manifest.json``, which records the job's parameters, its chunking, and the SHA-256 and size of
every finished part. Both are written atomically; a part whose bytes no longer match the manifest
(truncated, overwritten, missing) counts as unfinished and is recomputed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import RetinaCodecError
from ..io.atomic import atomic_destination
from ..io.resumable import file_digest
from ..io.run_folder import remove_temporary_files

MANIFEST_NAME = "manifest.json"
"""File name of the manifest inside a job folder."""
MANIFEST_FORMAT = "retinacodec-chunked-job"
"""Value of the manifest's ``format`` key."""
MANIFEST_VERSION = 1
"""Layout version of the manifest."""


@dataclass(frozen=True)
class Chunk:
    """One chunk of inputs: indices ``start`` (inclusive) to ``stop`` (exclusive) along the inputs."""

    index: int
    start: int
    stop: int

    @property
    def file_name(self) -> str:
        """Name of this chunk's part file in the job folder."""
        return f"part-{self.index:06d}.nc"


@dataclass(frozen=True)
class Chunking:
    """Fixed chunks of ``n_inputs`` inputs (time windows, images), ``chunk_size`` each but the last.

    The boundaries depend only on these two numbers, never on how many workers run the job.

    Parameters
    ----------
    n_inputs : int
        Number of inputs along the sample axis (for a stimulus: windows with a full history).
    chunk_size : int or None
        Inputs per chunk; None leaves it to :func:`retinacodec.parallel.run_chunked`, which takes
        the size recorded in the job folder or chooses one from the measured cost per input.

    Raises
    ------
    RetinaCodecError
        If either is not a positive integer (or None, for ``chunk_size``).
    """

    n_inputs: int
    chunk_size: int | None

    def __post_init__(self) -> None:
        for name in ("n_inputs", "chunk_size"):
            value = getattr(self, name)
            if name == "chunk_size" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise RetinaCodecError(f"{name} is {value!r}; expected a positive integer")

    def __len__(self) -> int:
        return -(-self.n_inputs // self._size())

    def _size(self) -> int:
        if self.chunk_size is None:
            raise RetinaCodecError(
                "the chunk size is not chosen yet; expected a Chunking with a chunk_size "
                "(run_chunked chooses one when it is None)"
            )
        return self.chunk_size

    def __iter__(self) -> Iterator[Chunk]:
        for index in range(len(self)):
            start = index * self._size()
            yield Chunk(index, start, min(self.n_inputs, start + self._size()))


def canonical(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` as they read back from JSON (tuples become lists), for comparison.

    Raises
    ------
    RetinaCodecError
        If a value is not JSON-serialisable (str, number, bool, None, lists and dicts of them).
    """
    try:
        return json.loads(json.dumps(dict(params), sort_keys=True))
    except (TypeError, ValueError) as exc:
        raise RetinaCodecError(
            f"job parameters cannot be stored as JSON ({exc}); expected strings, "
            f"numbers, booleans, None, and lists or dicts of them"
        ) from None


class Manifest:
    """The record of a job folder: parameters, chunking, and the finished parts.

    Open one with :meth:`open`; :meth:`pending` lists chunks still to compute, :meth:`record` adds
    a finished part (rewriting ``manifest.json`` atomically).

    Attributes
    ----------
    folder : pathlib.Path
        The job folder.
    params : dict
        The job's parameters (JSON types).
    chunking : Chunking
        How the inputs are cut.
    run : int
        How many times the job has been started in this folder (1 for a fresh folder); each part
        records the run that wrote it.
    parts : dict
        Chunk index -> {"file", "start", "stop", "sha256", "bytes", "run"}.
    """

    def __init__(self, folder: Path, params: dict, chunking: Chunking, run: int, parts: dict) -> None:
        self.folder, self.params, self.chunking, self.run, self.parts = folder, params, chunking, run, parts

    @property
    def path(self) -> Path:
        """The manifest file."""
        return self.folder / MANIFEST_NAME

    @classmethod
    def open(
        cls, folder: str | os.PathLike, params: Mapping[str, Any], chunking: Chunking, overwrite: bool = False
    ) -> Manifest:
        """Start or resume the job in ``folder``.

        Parameters
        ----------
        folder : str or path-like
            The job folder (created if needed).
        params : mapping
            What defines the job's result (JSON types): two runs with equal parameters and
            chunking must give the same parts.
        chunking : Chunking
        overwrite : bool
            Discard the folder's previous parts and manifest if they belong to another job
            (different parameters or chunking) or the manifest is unreadable.

        Returns
        -------
        Manifest
            With ``run`` counted up and saved.

        Raises
        ------
        RetinaCodecError
            If the folder holds a different job (or an unreadable manifest) and ``overwrite`` is
            False (the message lists what differs), or cannot be made.
        """
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RetinaCodecError(
                f"cannot make the job folder {folder} ({exc.strerror}); expected a folder path you can write"
            ) from None
        params = canonical(params)
        remove_temporary_files(folder)  # left by a killed writer
        previous = cls._read(folder / MANIFEST_NAME, overwrite)
        if previous is not None:
            differences = cls._differences(previous, params, chunking)
            if differences and not overwrite:
                raise RetinaCodecError(
                    f"{folder} holds a job with different {'; '.join(differences)}; expected the same "
                    f"parameters to resume it (use another folder, or overwrite=True / --overwrite "
                    f"to discard its results)"
                )
            if differences:
                cls._discard(folder)
                previous = None
        run = 1 if previous is None else int(previous["runs"]) + 1
        parts = {} if previous is None else {int(k): v for k, v in previous["parts"].items()}
        manifest = cls(folder, params, chunking, run, parts)
        manifest._save()
        return manifest

    @classmethod
    def recorded_chunk_size(cls, folder: str | os.PathLike, params: Mapping[str, Any], n_inputs: int) -> int | None:
        """The chunk size of the job recorded in ``folder``, if it is this job (equal parameters and
        ``n_inputs``); None otherwise (no manifest, an unreadable one, another job)."""
        try:
            previous = cls._read(Path(folder) / MANIFEST_NAME, overwrite=False)
        except RetinaCodecError:
            return None
        if (
            previous is None
            or previous["params"] != canonical(params)
            or previous["chunking"].get("n_inputs") != n_inputs
        ):
            return None
        return int(previous["chunking"]["chunk_size"])

    @staticmethod
    def _read(path: Path, overwrite: bool) -> dict | None:
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            if data.get("format") != MANIFEST_FORMAT or data.get("format_version") != MANIFEST_VERSION:
                raise ValueError(f"format {data.get('format')!r} version {data.get('format_version')!r}")
            int(data["runs"]), dict(data["parts"]), data["params"], data["chunking"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            if overwrite:
                Manifest._discard(path.parent)
                return None
            raise RetinaCodecError(
                f"cannot read job manifest {path} ({exc}); expected a {MANIFEST_FORMAT} manifest "
                f"version {MANIFEST_VERSION} (use overwrite=True / --overwrite to start afresh)"
            ) from None
        return data

    @staticmethod
    def _differences(previous: dict, params: dict, chunking: Chunking) -> list[str]:
        old = previous["params"]
        keys = sorted(k for k in set(old) | set(params) if old.get(k) != params.get(k))
        differences = [f"{k} (was {old.get(k)!r}, now {params.get(k)!r})" for k in keys]
        now = {"n_inputs": chunking.n_inputs, "chunk_size": chunking.chunk_size}
        if previous["chunking"] != now:
            differences.append(f"chunking (was {previous['chunking']}, now {now})")
        return differences

    @classmethod
    def remove(cls, folder: str | os.PathLike) -> None:
        """Remove a finished job's folder: its parts, manifest and temporary files, then the folder
        itself unless something else is left in it."""
        folder = Path(folder)
        if not folder.is_dir():
            return
        remove_temporary_files(folder)
        cls._discard(folder)
        if not any(folder.iterdir()):
            folder.rmdir()

    @staticmethod
    def _discard(folder: Path) -> None:
        """Remove the manifest and every part file of a previous job (nothing else)."""
        for part in folder.glob("part-*.nc"):
            part.unlink()
        (folder / MANIFEST_NAME).unlink(missing_ok=True)

    def _save(self) -> None:
        data = {
            "format": MANIFEST_FORMAT,
            "format_version": MANIFEST_VERSION,
            "params": self.params,
            "chunking": {"n_inputs": self.chunking.n_inputs, "chunk_size": self.chunking.chunk_size},
            "runs": self.run,
            "parts": {str(k): v for k, v in sorted(self.parts.items())},
        }
        with atomic_destination(self.path) as tmp:
            tmp.write_text(json.dumps(data, indent=1))

    def part_path(self, chunk: Chunk) -> Path:
        """Where ``chunk``'s part file lives."""
        return self.folder / chunk.file_name

    def is_finished(self, chunk: Chunk) -> bool:
        """Whether ``chunk`` has a recorded part whose file still has the recorded size and hash."""
        entry = self.parts.get(chunk.index)
        if entry is None or (entry["start"], entry["stop"]) != (chunk.start, chunk.stop):
            return False
        path = self.part_path(chunk)
        if not path.is_file() or path.stat().st_size != entry["bytes"]:
            return False
        return file_digest(path) == entry["sha256"]

    def pending(self) -> list[Chunk]:
        """Chunks without a verified part, in order; their stale entries are dropped."""
        todo = [chunk for chunk in self.chunking if not self.is_finished(chunk)]
        for chunk in todo:
            self.parts.pop(chunk.index, None)
        return todo

    def record(self, chunk: Chunk, sha256: str, size: int) -> None:
        """Record ``chunk``'s part (already written) as finished by this run; save the manifest."""
        self.parts[chunk.index] = {
            "file": chunk.file_name,
            "start": chunk.start,
            "stop": chunk.stop,
            "sha256": sha256,
            "bytes": int(size),
            "run": self.run,
        }
        self._save()
