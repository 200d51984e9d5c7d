"""``scoremd data generate``: OpenMM reference MD of one structure, or of many dipeptides on Dask.

    scoremd data generate alanine_dipeptide --out data/alanine_dipeptide --runs 8 --ns 250 --dt 0.002 --constraints hbonds
    scoremd data generate dipeptides --peptides evaluation,train:100 --ns 5 --out data/dipeptides [--scheduler ADDR]

Protocol options left out take the structure's defaults: the alanine dipeptide's paper
protocol (300 K, 1 fs, no constraints), or for dipeptides
:data:`scoremd.data.campaign.DIPEPTIDE_PROTOCOL` (310 K, 2 fs, H-bond constraints; ``--protocol
published`` for the published amber14 / OBC1 / 0.5 fs one).
"""

from __future__ import annotations

import dataclasses
import sys

from .._errors import ScoremdError
from ..storage import check_output_path
from . import _cli_io as files
from . import _cli_types as types

_PROTOCOL_OPTIONS = {"forcefield": "forcefield", "temperature": "temperature", "friction": "friction",
                     "timestep": "dt", "constraints": "constraints", "frame_interval": "frame_interval",
                     "equilibration": "equilibration", "platform": "platform", "hydrogen_mass": "hydrogen_mass"}


def _protocol(args, base):
    given = {field: getattr(args, option) for field, option in _PROTOCOL_OPTIONS.items()
             if getattr(args, option) is not None}
    if "forcefield" in given:
        given["forcefield"] = tuple(given["forcefield"])
    try:
        return dataclasses.replace(base, save_forces=args.forces, **given)
    except ValueError as err:
        raise ScoremdError(str(err)) from None


def cmd_generate(args) -> None:
    from ..data.openmm import MDProtocol, generate_runs

    files.checked(check_output_path)(args.out, f"--out {args.out}", directory=True)
    if args.structure == "dipeptides":
        return _dipeptides(args)
    if args.structure in ("chignolin", "bba"):  # C-alpha systems: a structure-based model, not all-atom MD
        from ..systems import get_system

        raise ScoremdError(f"{args.structure}'s reference is the structure-based C-alpha model: "
                           f"`{get_system(args.structure).generate_command}`")
    dipeptide_only = [o for o, v in (("--peptides", args.peptides), ("--scheduler", args.scheduler),
                                     ("--workers", args.workers), ("--chunk-ns", args.chunk_ns),
                                     ("--protocol", args.protocol)) if v is not None]
    if dipeptide_only:
        raise ScoremdError(f"{', '.join(dipeptide_only)} only apply to `scoremd data generate dipeptides`")
    protocol = _protocol(args, MDProtocol())
    n_frames = int(round(args.ns * 1000 / protocol.frame_interval))
    metas = generate_runs(args.out, args.runs or 4, n_frames, structure=args.structure, protocol=protocol,
                          first_seed=args.first_seed or 1, processes=args.processes, progress=not args.quiet,
                          command=args.command_line)
    total = sum(m["length_ns"] for m in metas)
    print(f"{args.out}: {len(metas)} runs, {total:g} ns in total", file=sys.stderr)


def _dipeptides(args) -> None:
    from ..data.campaign import DIPEPTIDE_PROTOCOL, PUBLISHED_PROTOCOL, generate_dipeptides
    from ..data.dipeptides import resolve_peptides

    if args.peptides is None:
        raise ScoremdError("`data generate dipeptides` needs --peptides (e.g. evaluation,train:100 or AK,GP)")
    for option, value in (("--processes", args.processes), ("--first-seed", args.first_seed)):
        if value is not None:
            raise ScoremdError(f"{option} does not apply to dipeptides (use --workers; seeds are fixed per peptide)")
    peptides = resolve_peptides(args.peptides)  # a bad name fails before a cluster starts
    base = PUBLISHED_PROTOCOL if args.protocol == "published" else DIPEPTIDE_PROTOCOL
    protocol = _protocol(args, base)
    report = generate_dipeptides(args.out, peptides, args.ns, runs=args.runs or 1, protocol=protocol,
                                 chunk_ns=args.chunk_ns or 1.0, scheduler=args.scheduler, workers=args.workers,
                                 progress=not args.quiet, command=args.command_line)
    done = sum(sum(f) for f in report.frames.values()) * protocol.frame_interval / 1000
    speed = sorted(report.ns_per_day.values())
    median = f", median {speed[len(speed) // 2]:.0f} ns/day per worker" if speed else ""
    print(f"{args.out}: {len(report.frames)} peptides, {done:g} ns in total{median}", file=sys.stderr)
    if report.failed:
        lines = "; ".join(f"{seq}: {msg}" for seq, msg in report.failed.items())
        raise ScoremdError(f"{len(report.failed)} of {len(peptides)} peptides failed (the others are done): {lines}")


def add_parser(data_sub) -> None:
    """Add ``generate`` to the ``scoremd data`` sub-commands."""
    q = data_sub.add_parser(
        "generate", help="OpenMM reference MD: independent runs in parallel processes, resumable and growable; "
                         "`dipeptides`: a Dask campaign over many peptides")
    q.add_argument("structure", help='"alanine_dipeptide" (built from internal coordinates), a PDB file with '
                                     'hydrogens, or "dipeptides" (built from sequence; see --peptides)')
    q.add_argument("--out", required=True, help="folder of the runs (run_00, ...; dipeptides: <SEQ>/run_00, ...); "
                                                "existing runs are resumed/grown")
    q.add_argument("--runs", type=types.count, default=None,
                   help="independent runs (default 4; dipeptides: 1 per peptide)")
    q.add_argument("--ns", type=types.positive, required=True,
                   help="length of each run in ns (a larger value grows existing runs)")
    q.add_argument("--first-seed", type=types.count, default=None, help="seed of run_00 (default 1; not for dipeptides)")
    q.add_argument("--processes", type=types.count, default=None, help="parallel processes (default: min(runs, cores))")
    q.add_argument("--forcefield", nargs="+", default=None,
                   help="OpenMM force-field files (default amber99sbildn.xml amber99_obc.xml)")
    q.add_argument("--temperature", type=types.positive, default=None, help="K (default 300; dipeptides 310)")
    q.add_argument("--friction", type=types.rate, default=None, help="1/ps (default 1)")
    q.add_argument("--dt", type=types.time_step, default=None, help="time step in ps (default 0.001; dipeptides 0.002)")
    q.add_argument("--constraints", choices=["none", "hbonds"], default=None,
                   help="default none; dipeptides hbonds")
    q.add_argument("--frame-interval", type=types.time_step, default=None, help="ps between stored frames (default 1)")
    q.add_argument("--equilibration", type=types.non_negative_ps, default=None,
                   help="ps before the first stored frame (default 100)")
    q.add_argument("--platform", default=None,
                   help="OpenMM platform (default Reference, the fastest for small native-OBC systems)")
    q.add_argument("--hydrogen-mass", type=types.positive, default=None, metavar="AMU",
                   help="hydrogen mass repartitioning (e.g. 3 with --dt 0.004 --constraints hbonds); default none")
    q.add_argument("--forces", action="store_true", help="also store forces")
    d = q.add_argument_group("dipeptides (Dask campaign)")
    d.add_argument("--peptides", default=None,
                   help="comma-separated dipeptides (AK) and sets: test, validation, evaluation (the paper's 15 + "
                        "GN, KG, GP), paper, train:N (N of the training pool, fixed order)")
    d.add_argument("--protocol", choices=["default", "published"], default=None,
                   help="default: amber99sbildn + OBC, 2 fs, H-bonds; published: amber14 + OBC1, 0.5 fs (slower)")
    d.add_argument("--scheduler", default=None,
                   help="address of a Dask scheduler (tcp://host:8786); default: a local cluster")
    d.add_argument("--workers", type=types.count, default=None, help="local Dask workers (default: one per core)")
    d.add_argument("--chunk-ns", type=types.positive, default=None,
                   help="ns per task, the most a killed worker loses (default 1)")
    q.set_defaults(func=cmd_generate)
