"""Report text: numbers and settings in words (shared by every report)."""

from __future__ import annotations

import tomllib

__all__ = ["architecture_text", "consistency_lines", "expert_steps", "force_field_text", "format_metric",
           "held_out_text", "sampler_text", "steps_text", "wall_text"]


def consistency_lines(has_loss: bool) -> list[str]:
    """The report's closing Markdown: the FP-error figure with its caption, then the loss curve."""
    lines = [
        "", "![Fokker-Planck error](fp_error.png)", "",
        "Fokker-Planck residual of the learned energy against diffusion time: its variance over x "
        "(solid; gauge invariant, 0 for an energy consistent with the diffusion of the energies at other "
        "times) and its raw mean square (dashed; also counts a drift of the energy's x-independent offset, "
        "which no score sees).",
    ]
    return lines + (["", "![loss](loss.png)", ""] if has_loss else [])


def format_metric(x: float | None) -> str:
    """A metric for a table: 4 decimals below 10, one above; "n/a" for None."""
    if x is None:
        return "n/a"
    return f"{x:.4f}" if x < 10 else f"{x:.1f}"


def expert_steps(config) -> list[int] | None:
    """Optimiser steps of each expert of a run config's mixture (smallest t first); None
    without experts."""
    boundaries = config.model.expert_boundaries
    return list(config.train.expert_steps(len(boundaries) + 1)) if boundaries else None


def steps_text(config) -> str:
    """The optimiser steps of a run config in words: per expert where they differ."""
    per = expert_steps(config)
    if per and len(set(per)) > 1:
        return "steps per expert (smallest t first) " + " / ".join(str(n) for n in per)
    return f"{config.train.steps} steps" + (" per expert" if per else "")


def sampler_text(config) -> str:
    """The i.i.d. sampler of a run config in words, e.g. "sde sampler, 200 steps, time grid rho = 2"."""
    c = config.sample
    grid = f"time grid rho = {c.rho:g}" if c.rho is not None else "the sampler's default time grid"
    stop = f", weighted down to t = {c.smc_t_stop:g}" if c.method == "smc" and c.smc_t_stop else ""
    return f"{c.method} sampler, {c.steps} steps, {grid}{stop}"


def force_field_text(emulator) -> str:
    """The diffusion time t0 of an emulator's MD force in words, with the blur it implies.

    The MD samples exp(-E(x, t0)), the model of the data diffused to t0: coordinates scaled by
    m(t0) and blurred by Gaussian noise of sigma(t0) * s nm (s the run's normalisation, D2).
    """
    t0 = emulator.config.simulate.t0
    sigma = float(emulator.model.sde.std(t0)) * emulator.scale
    return f"force at diffusion time t0 = {t0:g} (the data blurred by {sigma:.3g} nm per coordinate)"


def held_out_text(reference: dict) -> str:
    """Which frames were held out, in words, from the ``reference`` entry of a report's metrics."""
    runs, held = reference["runs"], reference.get("held_out_runs")
    if reference.get("held_out", "time") == "runs" and held and held < runs:
        return f"{held} of {runs} independent OpenMM runs, held out whole"
    return f"the last {reference['validation_fraction']:.0%} of each of {runs} OpenMM runs"


def architecture_text(m) -> str:
    """The network of a model config in a few words."""
    if m.kind != "mlp":
        return f"{m.heads} heads x {m.head_dim}"
    return str(m.features) + (", whitened distances" if m.whiten_distances else "")


def wall_text(emulator) -> str:
    """Whether the model has the excluded-volume wall, and whether it was trained with it or added
    after training (``scoremd.load(..., excluded_volume=True)``): "" when it has none."""
    if not emulator.config.model.excluded_volume:
        return ""
    trained_config = emulator.run_dir / "config.toml" if emulator.run_dir is not None else None
    trained = bool(trained_config and trained_config.exists()
                   and tomllib.loads(trained_config.read_text()).get("model", {}).get("excluded_volume", False))
    return "; excluded-volume wall" + ("" if trained else " added after training")
