"""Run configuration: typed frozen dataclasses, read from TOML with overrides.

A config file has a top-level ``system`` key and one table per section::

    system = "mueller_brown"
    [model]
    hidden = [128, 128, 128]
    [train]
    steps = 30000

Every key is optional except ``system``; unknown keys, wrong types and invalid
values raise :class:`~scoremd.ConfigError` naming the key. ``--set
section.key=value`` overrides use TOML syntax for the value (strings may be
given bare). A key left out means "the default", which for MD settings is the
system's own (``None`` in Python; TOML has no null).

This is the one place where the TOML vocabulary becomes objects: enum values
(``model.kind = "mlp"``), the Fokker-Planck estimator (``loss.fp_estimator =
"exact"`` -> :class:`~scoremd.diffusion.ExactFP`), the sampler
(:meth:`SampleConfig.sampler`) and the integrator (:meth:`SimulateConfig.integrator_for`).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from .._checks import non_negative_float, non_negative_int, positive_float, positive_int
from .._errors import ConfigError
from ..data import DataConfig
from ..diffusion import FP_ESTIMATORS, SAMPLERS, AbstractFPEstimator, AbstractSampler, LossConfig
from ..dynamics import INTEGRATORS, AbstractLangevin
from ..models import ModelConfig
from ..sde import VPSDE
from ..systems import System, get_system
from ..training import TrainConfig

__all__ = ["RunConfig", "SampleConfig", "SimulateConfig", "apply_overrides", "config_from_dict", "config_to_dict",
           "config_to_toml", "load_config"]


def _check_name(registry: dict, value, key: str) -> None:
    if value not in registry:
        raise ValueError(f"{key} must be one of {', '.join(map(repr, registry))}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class SampleConfig:
    """i.i.d. sampling settings.

    Attributes:
      n: number of samples.
      method: ``"sde"`` (:class:`~scoremd.diffusion.ReverseSDE`, Euler-Maruyama), ``"ode"``
        (:class:`~scoremd.diffusion.ProbabilityFlowODE`, Heun) or ``"smc"``
        (:class:`~scoremd.diffusion.SMCReverseSDE`: the reverse SDE's particles weighted by the
        model's energies and resampled, so that they follow exp(-E(x, t_min)), the MD's density).
      steps: integration steps from t = 1 to t_min.
      rho: time-grid exponent (None: the sampler's default, 1 for sde and smc, 3 for ode).
      smc_t_stop: ``"smc"`` only: weigh and resample the particles only down to this diffusion
        time in [0, 1), then continue as the plain reverse SDE (0: to t_min, the MD's density
        at the paper's t0; the config's ``simulate.t0``: the MD's density at that force time).
      chunk_size: samples integrated at once (bounds memory).
      seed: PRNG seed.
    """

    n: int = 100_000
    method: str = "sde"
    steps: int = 1000
    rho: float | None = None
    smc_t_stop: float = 0.0
    chunk_size: int = 50_000
    seed: int = 1

    def __post_init__(self):
        _check_name(SAMPLERS, self.method, "sample.method")
        for name in ("n", "steps", "chunk_size"):
            positive_int(getattr(self, name), f"sample.{name}")
        if self.rho is not None:
            positive_float(self.rho, "sample.rho")
        if not (math.isfinite(self.smc_t_stop) and 0.0 <= self.smc_t_stop < 1.0):
            raise ValueError(f"sample.smc_t_stop must lie in [0, 1), got {self.smc_t_stop}")
        if self.smc_t_stop and self.method != "smc":
            raise ValueError(f'sample.smc_t_stop is for method = "smc", not "{self.method}"')

    def sampler(self, *, method: str | None = None, steps: int | None = None,
                rho: float | None = None, t_stop: float | None = None) -> AbstractSampler:
        """The sampler object; arguments given override this config (``t_stop``: ``smc_t_stop``)."""
        method = self.method if method is None else method
        _check_name(SAMPLERS, method, "the sampler method")
        kwargs = {"n_steps": self.steps if steps is None else steps, "rho": self.rho if rho is None else rho}
        if method == "smc":
            kwargs["t_stop"] = self.smc_t_stop if t_stop is None else t_stop
        elif t_stop:
            raise ValueError(f"a t_stop ({t_stop:g}) is for the smc sampler; the {method} sampler has none")
        return SAMPLERS[method](**kwargs)


@dataclasses.dataclass(frozen=True)
class SimulateConfig:
    """Langevin MD with the learned force. ``None`` (a key left out) means "the system's default".

    Attributes:
      replicas: independent replicas run in parallel.
      frames: frames stored per replica.
      steps_per_frame: integration steps between frames (None: the system's).
      dt: time step in ps (None: the system's).
      friction: collision rate in 1/ps (None: the system's; 0 is frictionless NVE dynamics).
      integrator: ``"middle"`` (OpenMM LangevinMiddleIntegrator) or ``"leapfrog"`` (LangevinIntegrator).
      t0: diffusion time at which the model is used as a force field. The MD samples
        exp(-E(x, t0)), the model of the data diffused to t0: coordinates scaled by m(t0) and
        blurred by sigma(t0) * s nm of Gaussian noise (s: the run's normalisation, D2). The
        paper's 1e-5 blurs by s/1000; 1e-2 by 0.045 s (chignolin: 0.016 nm per coordinate).
      burn_in_frames: frames per replica discarded by the evaluation.
      seed: PRNG seed (starting frames, velocities, noise).
      mcmc_chains: toy reports: chains per sampler in the comparison of Langevin MD with MALA and
        HMC on the learned energy at equal cost (0: no comparison; molecules: unused).
    """

    replicas: int = 1000
    frames: int = 110
    steps_per_frame: int | None = None
    dt: float | None = None
    friction: float | None = None
    integrator: str = "middle"
    t0: float = 1e-5
    burn_in_frames: int = 10
    seed: int = 2
    mcmc_chains: int = 1000

    def __post_init__(self):
        _check_name(INTEGRATORS, self.integrator, "simulate.integrator")
        positive_int(self.replicas, "simulate.replicas")
        positive_int(self.frames, "simulate.frames")
        if self.steps_per_frame is not None:
            positive_int(self.steps_per_frame, "simulate.steps_per_frame")
        if self.dt is not None:
            positive_float(self.dt, "simulate.dt", "ps")
        if self.friction is not None:
            non_negative_float(self.friction, "simulate.friction", "1/ps")
        non_negative_int(self.burn_in_frames, "simulate.burn_in_frames")
        non_negative_int(self.mcmc_chains, "simulate.mcmc_chains")
        if not (math.isfinite(self.t0) and 0 < self.t0 < 1):
            raise ValueError(f"simulate.t0 must lie in (0, 1), got {self.t0}")
        if self.burn_in_frames >= self.frames:
            raise ValueError(f"simulate.burn_in_frames ({self.burn_in_frames}) must be < frames ({self.frames})")

    def integrator_for(self, system: System, *, integrator: str | None = None, dt: float | None = None,
                       friction: float | None = None, position_limit: float | None = None) -> AbstractLangevin:
        """The integrator object: explicit arguments, else this config, else the system's defaults."""
        name = self.integrator if integrator is None else integrator
        _check_name(INTEGRATORS, name, "the integrator")
        dt = next(v for v in (dt, self.dt, system.dt) if v is not None)
        friction = next(v for v in (friction, self.friction, system.friction) if v is not None)
        limit = system.position_limit if position_limit is None else position_limit
        return INTEGRATORS[name](kbt=system.kbt, friction=friction, dt=dt, position_limit=limit)

    def steps_per_frame_for(self, system: System, steps_per_frame: int | None = None) -> int:
        """Integration steps between frames: the argument, else this config, else the system's."""
        return next(v for v in (steps_per_frame, self.steps_per_frame, system.steps_per_frame) if v is not None)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything a run needs: system, data, diffusion, model, loss, training, sampling, MD."""

    system: str
    data: DataConfig = DataConfig()
    sde: VPSDE = VPSDE()
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    train: TrainConfig = TrainConfig()
    sample: SampleConfig = SampleConfig()
    simulate: SimulateConfig = SimulateConfig()


SECTIONS = [f.name for f in dataclasses.fields(RunConfig) if f.name != "system"]


def _check_type(value, hint, key):
    """Coerce/validate a TOML value against a (simple) type hint; names become objects here."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        for option in typing.get_args(hint):
            if option is type(None):
                continue
            try:
                return _check_type(value, option, key)
            except ConfigError:
                pass
        raise ConfigError(f"{key}: {value!r} is not a valid {hint}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (item,) = typing.get_args(hint)[:1]
        return tuple(_check_type(v, item, key) for v in value)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(repr(e.value) for e in hint)}") from None
    if hint is AbstractFPEstimator:
        if isinstance(value, AbstractFPEstimator):
            return value
        if not isinstance(value, str) or value not in FP_ESTIMATORS:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(map(repr, FP_ESTIMATORS))}")
        return FP_ESTIMATORS[value]()
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is str and isinstance(value, str):
        return value
    if hint is bool and isinstance(value, bool):
        return value
    raise ConfigError(f"{key}: expected {getattr(hint, '__name__', hint)}, got {value!r}")


def _build(cls, table: dict, prefix: str):
    if not isinstance(table, dict):
        raise ConfigError(f"[{prefix}] must be a table, got {table!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in table.items():
        if key not in names:
            raise ConfigError(
                f"unknown config key '{prefix}.{key}'; valid keys in [{prefix}]: {', '.join(names)}"
            )
        kwargs[key] = _check_type(value, hints[key], f"{prefix}.{key}")
    try:
        return cls(**kwargs)
    except ValueError as err:
        raise ConfigError(f"invalid [{prefix}] settings: {err}") from None


def config_from_dict(d: dict) -> RunConfig:
    """Build a :class:`RunConfig` from a nested dict (as parsed from TOML)."""
    d = dict(d)
    if "system" not in d:
        raise ConfigError('the config has no top-level `system = "..."` key (e.g. system = "mueller_brown")')
    system = d.pop("system")
    if not isinstance(system, str):
        raise ConfigError(f"system must be a string, got {system!r}")
    get_system(system)  # unknown systems fail here, with the list of known ones
    unknown = set(d) - set(SECTIONS)
    if unknown:
        raise ConfigError(f"unknown config section(s) {sorted(unknown)}; valid sections: {', '.join(SECTIONS)}")
    hints = typing.get_type_hints(RunConfig)
    return RunConfig(system=system, **{k: _build(hints[k], v, k) for k, v in d.items()})


def _parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ConfigError(f"override {item!r} is not of the form section.key=value (e.g. train.steps=1000)")
    key, raw = item.split("=", 1)
    key = key.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # a bare string
    return key.split("."), value


def apply_overrides(d: dict, overrides: list[str]) -> dict:
    """Apply ``section.key=value`` overrides to a nested config dict (returns a new dict)."""
    d = json.loads(json.dumps(d))
    for item in overrides or []:
        path, value = _parse_override(item)
        if len(path) == 1 and path[0] == "system":
            d["system"] = value
            continue
        if len(path) != 2:
            raise ConfigError(f"override key {'.'.join(path)!r} must be 'system' or 'section.key'")
        section, key = path
        if section not in SECTIONS:
            raise ConfigError(f"unknown config section {section!r} in override; valid sections: {', '.join(SECTIONS)}")
        if not isinstance(d.setdefault(section, {}), dict):
            raise ConfigError(f"[{section}] in the config file is not a table ({d[section]!r}); fix the file")
        d[section][key] = value
    return d


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Read a TOML config file, apply overrides, and validate.

    Raises:
      ConfigError: missing file, malformed TOML, unknown keys or invalid values.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; see examples/configs/ for templates")
    try:
        d = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path} is not valid TOML: {err}") from None
    return config_from_dict(apply_overrides(d, overrides or []))


def _plain(value):
    """A config value as TOML-able data: enums by value, objects by name, tuples as lists."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, AbstractFPEstimator):
        return value.name
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def config_to_dict(config: RunConfig) -> dict:
    """Nested dict of a config in its TOML vocabulary; keys left at None ("default") are omitted."""
    out: dict[str, Any] = {"system": config.system}
    for section in SECTIONS:
        table = getattr(config, section)
        out[section] = {f.name: _plain(getattr(table, f.name)) for f in dataclasses.fields(table)
                        if getattr(table, f.name) is not None}
    return out


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


def config_to_toml(config: RunConfig) -> str:
    """The fully resolved config as TOML text (round-trips through :func:`load_config`)."""
    d = config_to_dict(config)
    lines = [f"system = {_toml_value(d.pop('system'))}"]
    for section, table in d.items():
        lines.append(f"\n[{section}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"
