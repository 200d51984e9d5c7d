"""File formats: streamed ``.npy`` trajectories and atomic writes.

:class:`NpyFrameWriter` appends frames to a ``.npy`` file whose header is
rewritten after every append, so the file is a valid array of the frames
written so far at any moment (also after a crash or a diverging run).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

_HEADER_BYTES = 256  # fixed, so rewriting the frame count never moves the data


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _header(shape, dtype) -> bytes:
    d = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": tuple(shape)}
    body = repr(d).encode("latin1")
    magic = np.lib.format.magic(1, 0)
    pad = _HEADER_BYTES - len(magic) - 2 - len(body) - 1
    if pad < 0:
        raise ValueError(f"shape {shape} too long for the fixed .npy header")
    return magic + (len(body) + pad + 1).to_bytes(2, "little") + body + b" " * pad + b"\n"


class NpyFrameWriter:
    """Stream frames of shape ``frame_shape`` into ``path`` (a ``.npy`` file).

    The array on disk has shape (n_frames_written, *frame_shape). Use as a
    context manager or call :meth:`close`.

    Args:
      path: output file; created or truncated.
      frame_shape: shape of one frame, e.g. (n_replicas, n_atoms, 3).
      dtype: stored dtype (float32 by default).
      resume_at: continue an existing file written by this class, keeping its
        first ``resume_at`` frames (later ones, e.g. written after the last
        checkpoint of an interrupted run, are discarded).
    """

    def __init__(self, path: str | Path, frame_shape, dtype=np.float32, *, resume_at: int | None = None):
        self.path = Path(path)
        self.frame_shape = tuple(int(s) for s in frame_shape)
        self.dtype = np.dtype(dtype)
        if resume_at is None:
            self.n_frames = 0
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "wb")
            self._fh.write(_header((0, *self.frame_shape), self.dtype))
        else:
            self._fh = open(self.path, "r+b")
            shape, dtype_on_disk = None, None
            if np.lib.format.read_magic(self._fh) == (1, 0):
                shape, _, dtype_on_disk = np.lib.format.read_array_header_1_0(self._fh)
            if shape is None or self._fh.tell() != _HEADER_BYTES or tuple(shape[1:]) != self.frame_shape \
                    or dtype_on_disk != self.dtype:
                self._fh.close()
                raise ValueError(f"{self.path} was not written by NpyFrameWriter with frames of shape {self.frame_shape}")
            if not 0 <= resume_at <= shape[0]:
                self._fh.close()
                raise ValueError(f"cannot resume {self.path} at frame {resume_at}: it holds {shape[0]} frames")
            self.n_frames = resume_at
            self._fh.truncate(_HEADER_BYTES + resume_at * self.dtype.itemsize * int(np.prod(self.frame_shape)))
            self._fh.seek(0)
            self._fh.write(_header((resume_at, *self.frame_shape), self.dtype))
        self._fh.flush()

    def append(self, frames: np.ndarray) -> None:
        """Append frames of shape (k, *frame_shape); the header then says n_frames + k."""
        frames = np.ascontiguousarray(frames, dtype=self.dtype)
        if frames.shape[1:] != self.frame_shape:
            raise ValueError(f"frames of shape {frames.shape[1:]} do not match {self.frame_shape}")
        self._fh.seek(0, os.SEEK_END)
        self._fh.write(frames.tobytes())
        self._fh.flush()
        self.n_frames += frames.shape[0]
        self._fh.seek(0)
        self._fh.write(_header((self.n_frames, *self.frame_shape), self.dtype))
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def atomic_save_npy(path: str | Path, array: np.ndarray) -> None:
    """``np.save`` to a temporary file in the same folder, then rename into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npy")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, array)
        os.chmod(tmp, _default_mode())  # mkstemp creates 0600 files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_savez(path: str | Path, **arrays) -> None:
    """``np.savez`` to a temporary file in the same folder, synced to disk, then renamed into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write text to a temporary file and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_frames(path: str | Path, n_frames: int) -> np.ndarray:
    """The first ``n_frames`` frames of a ``.npy`` file written by :class:`NpyFrameWriter`, also while
    a writer is still appending to it (its data are written before its header counts them).

    Raises:
      ValueError: the file is not such a file or holds fewer frames.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        shape, dtype = None, None
        if np.lib.format.read_magic(fh) == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        if shape is None or fh.tell() != _HEADER_BYTES:
            raise ValueError(f"{path} was not written by NpyFrameWriter")
        if shape[0] < n_frames:
            raise ValueError(f"{path} holds {shape[0]} frames, fewer than {n_frames}")
        count = int(n_frames * np.prod(shape[1:], dtype=np.int64))
        data = np.fromfile(fh, dtype=dtype, count=count)
    if data.size != count:
        raise ValueError(f"{path} is shorter than its header says")
    return data.reshape((n_frames, *shape[1:]))


def array_sha256(x: np.ndarray) -> str:
    """Hex SHA-256 of an array's bytes (C order)."""
    return hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


TRAJECTORY_FORMATS = (".npy", ".xtc", ".dcd", ".h5")


def check_output_path(path: str | Path, what: str, *, directory: bool = False) -> Path:
    """Check, before any work, that ``path`` can be written: its nearest existing ancestor is a
    writable directory, and ``path`` itself is not a directory (a file; ``directory=False``) or
    not a regular file (a directory; ``directory=True``). Creates nothing.

    Raises:
      ValueError: naming ``what`` (e.g. ``"--out runs/x"``) and the problem.
    """
    path = Path(path)
    if path.exists() and directory and not path.is_dir():
        raise ValueError(f"{what}: {path} is a file, not a directory; choose a directory name")
    if path.exists() and not directory and path.is_dir():
        raise ValueError(f"{what}: {path} is a directory; give a file name")
    ancestor = path if (directory and path.is_dir()) else path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ValueError(f"{what}: {ancestor} is a file, so nothing can be written below it; choose another path")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ValueError(f"{what}: {ancestor} is not writable; choose a path you can write to")
    return path


def available_memory() -> int:
    """Bytes of memory available to a new allocation (MemAvailable on Linux, else free pages)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_allocation(nbytes: int, what: str) -> None:
    """Refuse an output array larger than the memory available (before allocating it).

    Raises:
      ValueError: naming ``what``, the size asked for and the memory available.
    """
    free = available_memory()
    if nbytes > free:
        raise ValueError(f"{what} would need {nbytes / 2**30:.3g} GiB of memory but {free / 2**30:.3g} GiB "
                         "are available; ask for fewer, or split the work into several calls")


def write_positions(path: str | Path, xyz: np.ndarray, topology=None) -> list[Path]:
    """Write frames in the format named by ``path``'s extension; returns the files written
    (the trajectory first, then its topology PDB).

    ``.npy``: the array as given (float32, nm). ``.xtc``/``.dcd``/``.h5``: an
    mdtraj trajectory of ``topology`` (an mdtraj Topology; frames (N, n_atoms, 3) in
    nm) plus the topology as ``<path without extension>.pdb`` beside it, which
    mdtraj, VMD and PyMOL open together with the trajectory. Every file is written
    to a temporary name first and renamed into place.

    Raises:
      ValueError: unknown extension, or a trajectory format without a topology.
    """
    path = Path(path)
    if path.suffix not in TRAJECTORY_FORMATS:
        raise ValueError(f"unknown output format {path.suffix!r}; use one of {', '.join(TRAJECTORY_FORMATS)}")
    xyz = np.asarray(xyz, np.float32)
    if path.suffix == ".npy":
        atomic_save_npy(path, xyz)
        return [path]
    if topology is None:
        raise ValueError(f"{path.suffix} output needs a molecular topology; write .npy instead")
    import mdtraj

    path.parent.mkdir(parents=True, exist_ok=True)
    traj = mdtraj.Trajectory(xyz, topology)
    pdb = path.with_suffix(".pdb")
    temps = {target: target.with_name(f".{target.stem}.tmp{target.suffix}") for target in (path, pdb)}
    try:  # both files complete under temporary names first, so neither is replaced by half a pair
        traj.save(str(temps[path]))
        traj[:1].save_pdb(str(temps[pdb]))
        for target, tmp in temps.items():
            os.replace(tmp, target)
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
    return [path, pdb]


__all__ = ["NpyFrameWriter", "TRAJECTORY_FORMATS", "array_sha256", "atomic_save_npy", "atomic_savez", "atomic_write_text",
           "available_memory", "check_allocation", "check_output_path", "read_frames", "sha256", "write_positions"]
