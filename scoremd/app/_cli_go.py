"""``scoremd data go`` and ``scoremd data go-calibrate``: the structure-based C-alpha reference of a protein.

    scoremd data go-calibrate data/folded/CLN025_ca.pdb --temperature 340 --epsilons 2,2.5,3 --ns 20
    scoremd data go data/folded/CLN025_ca.pdb --temperature 340 --epsilon 2.75 --out data/chignolin --runs 4 --ns 100
"""

from __future__ import annotations

import json
import sys

from .._errors import ScoremdError
from ..storage import atomic_write_text, check_output_path
from . import _cli_io as files
from . import _cli_types as types


def _model(args):
    from ..data.go_model import GoModel

    try:
        return GoModel(args.native, epsilon=getattr(args, "epsilon", 1.0), contact_cutoff=args.contact_cutoff,
                       min_separation=args.min_separation)
    except ValueError as err:
        raise ScoremdError(str(err)) from None


def cmd_go(args) -> None:
    from ..data.openmm import MDProtocol, generate_runs

    files.checked(check_output_path)(args.out, f"--out {args.out}", directory=True)
    model = _model(args)
    model.create_system()  # a bad native structure fails here, before any folder is made
    try:
        protocol = MDProtocol(forcefield=(), temperature=args.temperature, friction=args.friction, timestep=args.dt,
                              frame_interval=args.frame_interval, equilibration=args.equilibration)
    except ValueError as err:
        raise ScoremdError(str(err)) from None
    n_frames = int(round(args.ns * 1000 / args.frame_interval))
    metas = generate_runs(args.out, args.runs, n_frames, structure=model, protocol=protocol,
                          first_seed=args.first_seed, processes=args.processes, progress=not args.quiet,
                          command=args.command_line)
    print(f"{args.out}: {len(metas)} runs, {sum(m['length_ns'] for m in metas):g} ns in total", file=sys.stderr)


def cmd_go_calibrate(args) -> None:
    from ..data.go_model import calibrate

    for option, path in (("--out", args.out), ("--plot", args.plot)):
        if path:
            files.checked(check_output_path)(path, f"{option} {path}")
    try:
        epsilons = [float(e) for e in args.epsilons.split(",")]
    except ValueError:
        raise ScoremdError(f"--epsilons {args.epsilons!r}: give comma-separated energies in kJ/mol, e.g. 2,2.5,3")
    if not epsilons or min(epsilons) <= 0:
        raise ScoremdError("--epsilons must be positive energies in kJ/mol")
    model = _model(args)
    print(f"{'eps (kJ/mol)':>12s} {'eps/kT':>7s} {'<Q>':>6s} {'folded':>7s} {'unfolded':>9s} {'transitions':>11s} "
          f"{'C_v (k_B)':>10s} {'us/day':>7s}", flush=True)

    def show(r):
        print(f"{r['epsilon']:12.3f} {r['epsilon_over_kbt']:7.3f} {r['mean_q']:6.3f} {r['folded']:7.3f} "
              f"{r['unfolded']:9.3f} {r['transitions']:11d} {r['heat_capacity']:10.1f} {r['ns_per_day'] / 1000:7.1f}",
              flush=True)

    rows = calibrate(model, epsilons, args.temperature, ns=args.ns, discard_ns=args.discard_ns, dt=args.dt,
                     friction=args.friction, seed=args.seed, progress=show)
    if args.out:
        record = {"native": args.native, "temperature": args.temperature, "command": args.command_line,
                  "model": {"contact_cutoff": model.contact_cutoff, "min_separation": model.min_separation,
                            "n_contacts": int(len(model.contacts()[1]))}, "rows": rows}
        atomic_write_text(args.out, json.dumps(record, indent=2) + "\n")
        print(f"wrote {args.out}", file=sys.stderr)
    if args.plot:
        from ..analysis._plots import plot_go_calibration

        plot_go_calibration(args.plot, rows, f"{args.native} at {args.temperature:g} K")
        print(f"wrote {args.plot}", file=sys.stderr)


def add_parsers(data_sub) -> None:
    """Add ``go`` and ``go-calibrate`` to the ``scoremd data`` sub-commands."""
    def common(q):
        q.add_argument("native", help="PDB file of the native structure, C-alpha atoms only (e.g. data/folded/*.pdb)")
        q.add_argument("--temperature", type=types.positive, required=True, help="K")
        q.add_argument("--contact-cutoff", type=types.positive, default=1.0,
                       help="native contact: native C-alpha distance below this (nm)")
        q.add_argument("--min-separation", type=types.count, default=4, help="contacts and repulsion for |i - j| >= this")
        q.add_argument("--friction", type=types.rate, default=1.0, help="1/ps")
        q.add_argument("--dt", type=types.time_step, default=0.01, help="time step in ps")

    q = data_sub.add_parser("go", help="structure-based (Go) C-alpha reference MD of a protein: a surrogate, "
                                       "resumable and growable like `data generate`")
    common(q)
    q.add_argument("--epsilon", type=types.positive, required=True, help="contact energy in kJ/mol (see go-calibrate)")
    q.add_argument("--out", required=True, help="folder of the runs (run_00, run_01, ...)")
    q.add_argument("--runs", type=types.count, default=4)
    q.add_argument("--ns", type=types.positive, required=True, help="length of each run in ns")
    q.add_argument("--first-seed", type=types.count, default=1)
    q.add_argument("--processes", type=types.count, default=None)
    q.add_argument("--frame-interval", type=types.time_step, default=1.0, help="ps between stored frames")
    q.add_argument("--equilibration", type=types.non_negative_ps, default=1000.0, help="ps before the first stored frame")
    q.set_defaults(func=cmd_go)

    q = data_sub.add_parser("go-calibrate", help="folding equilibrium of the Go model against epsilon/k_BT")
    common(q)
    q.add_argument("--epsilons", required=True, help="comma-separated contact energies in kJ/mol")
    q.add_argument("--ns", type=types.positive, default=20.0, help="ns per epsilon (after --discard-ns)")
    q.add_argument("--discard-ns", type=types.non_negative_ns, default=1.0, help="ns discarded at the start of each run")
    q.add_argument("--seed", type=types.count, default=1)
    q.add_argument("--out", default=None, help="JSON file of the table")
    q.add_argument("--plot", default=None, help="PNG of <Q>, folded share and heat capacity against epsilon/k_BT")
    q.set_defaults(func=cmd_go_calibrate)
