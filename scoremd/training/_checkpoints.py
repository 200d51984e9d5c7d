"""Atomic, verified, resumable checkpoints of training state (orbax).

Orbax writes each checkpoint into a temporary directory and renames it into
place only once it is complete, so an interrupted save never replaces the
previous good checkpoint; the two newest are kept. After the data, a manifest
of the SHA-256 of every file is written into the checkpoint (atomically), and
every restore verifies it first: orbax itself reads damaged bytes without
complaint. A damaged checkpoint is never loaded silently: training resumes from
the newest intact one (the damaged one is moved aside, not deleted), and loading
for sampling or simulation refuses with a message naming the intact step.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from .._errors import CheckpointError
from ..storage import atomic_write_text, sha256

__all__ = ["MANIFEST", "Checkpoints"]

MANIFEST = "scoremd_sha256.json"


@contextlib.contextmanager
def _quiet_orbax():
    """orbax logs every save at INFO level: keep the console for the progress bar, only meanwhile."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def _host_copy(a):
    """A replicated array of a multi-process job as this process's full numpy copy."""
    if not isinstance(a, jax.Array):
        return a
    if not a.is_fully_replicated:
        raise ValueError("only replicated arrays are checkpointed across processes (training state is replicated)")
    return np.asarray(a.addressable_data(0))


class Checkpoints:
    """A directory of numbered checkpoints of one pytree.

    Args:
      directory: where checkpoints live (created on first save).
      max_to_keep: number of newest checkpoints kept on disk.
    """

    def __init__(self, directory: str | Path, max_to_keep: int = 2):
        self.directory = Path(directory).absolute()
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(
                max_to_keep=max_to_keep, create=True, enable_async_checkpointing=False
            ),
        )

    def steps(self) -> list[int]:
        """Steps of the complete checkpoints on disk, newest first."""
        self._manager.reload()
        return sorted(self._manager.all_steps(), reverse=True)

    def latest_step(self) -> int | None:
        """Step of the newest complete checkpoint, or None if there is none."""
        steps = self.steps()
        return steps[0] if steps else None

    def _step_dir(self, step: int) -> Path:
        return self.directory / str(step)

    def _files(self, step: int) -> dict[str, str]:
        root = self._step_dir(step)
        return {str(p.relative_to(root)): sha256(p) for p in sorted(root.rglob("*"))
                if p.is_file() and p.name != MANIFEST}

    def save(self, step: int, tree: Any) -> None:
        """Write ``tree`` as checkpoint ``step`` (blocking, atomic), then its checksum manifest."""
        if jax.process_count() > 1:  # host copies: a checkpoint of several processes loads in one
            tree = jax.tree.map(_host_copy, tree)
        with _quiet_orbax():
            self._manager.save(int(step), args=ocp.args.StandardSave(tree), force=True)
            self._manager.wait_until_finished()
        if jax.process_index() == 0:  # several processes (jax.distributed): one writes the manifest
            manifest = {"step": int(step), "sha256": self._files(int(step))}
            atomic_write_text(self._step_dir(int(step)) / MANIFEST, json.dumps(manifest, indent=1) + "\n")
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices(f"scoremd checkpoint {int(step)}")  # no one reads it half written

    def damage(self, step: int) -> str | None:
        """Why checkpoint ``step`` cannot be trusted, or None if every file matches its manifest."""
        path = self._step_dir(step) / MANIFEST
        if not path.is_file():
            return f"it has no checksum manifest ({MANIFEST}): the save was interrupted or the file was removed"
        try:
            expected = json.loads(path.read_text())["sha256"]
        except (ValueError, KeyError, TypeError):
            return f"its manifest {MANIFEST} is unreadable"
        found = self._files(step)
        missing = sorted(set(expected) - set(found))
        if missing:
            return f"{len(missing)} of its files are missing (e.g. {missing[0]})"
        changed = sorted(k for k in expected if found[k] != expected[k])
        if changed:
            return f"{len(changed)} of its files do not match their checksums (e.g. {changed[0]})"
        return None

    def restore(self, template: Any, step: int | None = None, *, fall_back: bool = False) -> Any:
        """Restore checkpoint ``step`` (default: the newest) into the structure of ``template``.

        The checkpoint's files are verified against its manifest first (checkpoints written
        before manifests existed, none of which has one, load unverified with a note on
        stderr). With ``fall_back``
        (resuming training), a damaged newest checkpoint is moved aside to
        ``damaged_<step>`` and the newest intact one is restored, with a note on stderr.

        Raises:
          CheckpointError: no checkpoint; the requested (or newest) one is damaged, naming
            the newest intact step; or its structure does not match ``template``.
        """
        steps = self.steps()
        if not steps:
            raise CheckpointError(
                f"no checkpoint in {self.directory}; train first with `scoremd train CONFIG --out RUN_DIR`"
            )
        if step is not None and step not in steps:
            raise CheckpointError(f"{self.directory} has no checkpoint at step {step}; it has steps "
                                  f"{', '.join(map(str, steps))}")
        if not any((self._step_dir(s) / MANIFEST).exists() for s in steps):
            # Written before checkpoints carried manifests: nothing to verify against.
            print(f"scoremd: the checkpoints in {self.directory} have no checksum manifests (written by an older "
                  "scoremd); loading them unverified", file=sys.stderr)
            return self._restore_unverified(template, steps[0] if step is None else step)
        step = steps[0] if step is None else step
        reason = self.damage(step)
        if reason:
            intact = [s for s in steps if s != step and self.damage(s) is None]
            if fall_back and intact:
                aside, k = self.directory / f"damaged_{step}", 1
                while aside.exists():
                    aside, k = self.directory / f"damaged_{step}_{k}", k + 1
                self._step_dir(step).rename(aside)
                print(f"scoremd: checkpoint {self._step_dir(step)} is damaged ({reason}); moved it to {aside} "
                      f"and resuming from the intact checkpoint at step {intact[0]}", file=sys.stderr)
                return self.restore(template, intact[0])
            hint = (f"The checkpoint at step {intact[0]} is intact: load it with `--step {intact[0]}` "
                    f"(Python: scoremd.load(RUN_DIR, step={intact[0]})), or resume training, which falls back to it."
                    if intact else "No intact checkpoint is left; train again into a new directory.")
            raise CheckpointError(f"checkpoint {self._step_dir(step)} is damaged: {reason}. {hint}")
        return self._restore_unverified(template, step)

    def _restore_unverified(self, template: Any, step: int) -> Any:
        abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), np.asarray(a).dtype), template)
        try:
            return self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
        except (ValueError, KeyError, TypeError) as err:
            raise CheckpointError(
                f"checkpoint {self._step_dir(step)} does not match the model described by the "
                f"run's config ({type(err).__name__}: {str(err).splitlines()[0][:300]}); was config.toml edited "
                "after training? Restore the original config.toml or train into a new directory."
            ) from err

    def close(self) -> None:
        self._manager.close()

    def __enter__(self) -> "Checkpoints":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
