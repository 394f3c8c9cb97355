"""``retinacodec modes``: fit sparse-autoencoder modes to a contributions file."""

from __future__ import annotations

import argparse

from ..errors import RetinaCodecError
from ._parsing import check_paths


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``retinacodec modes`` to the command's subparsers."""
    p = sub.add_parser("modes", help="fit sparse-autoencoder modes to a contributions file")
    p.add_argument("contributions", help="netCDF file written by 'retinacodec contributions'")
    p.add_argument("-o", "--output", required=True, help="output netCDF file")
    p.add_argument("--variable", choices=("contribution", "activation"), default="contribution")
    p.add_argument("--labels", help="sample coord to correlate modes with, e.g. cell_type")
    p.add_argument(
        "--signed",
        action="store_true",
        help="allow a signed dictionary (needed for contributions without --split sign)",
    )
    p.add_argument("--n-modes", type=int, default=None, help="default: 3 x channels")
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.add_argument(
        "--stability-fits",
        type=int,
        default=2,
        metavar="N",
        help="extra fits (seeds SEED+1..SEED+N) that score each mode's stability; each costs one more "
        "fit; 0 turns them off (default: 2)",
    )
    p.add_argument("--save-sae", help="also save the fitted SAE (netCDF) for irf/control")
    p.add_argument("--plot", help="also save a figure to this PNG")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Run ``retinacodec modes`` with its parsed arguments."""
    import xarray as xr

    from ..io import read_netcdf, write_netcdf
    from ..modes.sae import BATCH_SIZE
    from ..modes.workflow import fit_modes

    check_paths([args.contributions], {"-o": args.output, "--save-sae": args.save_sae, "--plot": args.plot})
    data = read_netcdf(args.contributions)
    if not isinstance(data, xr.Dataset) or args.variable not in data:
        raise RetinaCodecError(
            f"{args.contributions} holds no '{args.variable}' variable; expected a contributions "
            "file written by 'retinacodec contributions'"
        )
    n_samples = data[args.variable].shape[0]
    if n_samples < BATCH_SIZE:
        raise RetinaCodecError(
            f"{args.contributions} holds {n_samples} samples, fewer than the SAE's batch of {BATCH_SIZE}; "
            "expected more samples: contributions of more cells or a longer stimulus"
        )
    sae, result = fit_modes(
        data,
        variable=args.variable,
        labels=args.labels,
        nonnegative=not args.signed,
        n_modes=args.n_modes,
        epochs=args.epochs,
        seed=args.seed,
        device=args.device,
        stability_fits=args.stability_fits,
    )
    write_netcdf(result, args.output)
    print(
        f"wrote {args.output}: {result.sizes['mode']} modes of {args.variable}, "
        f"R^2 {float(result['r2']):.3f}, mean L0 {float(result['mean_l0']):.2f}, "
        f"{int(result['dead_modes'].sum())} dead modes"
    )
    if args.save_sae:
        sae.save(args.save_sae)
        print(f"wrote {args.save_sae}")
    if args.plot:
        from ..plots import save_figure
        from ..plots.modes import plot_modes

        save_figure(plot_modes(result["modes"], result["loadings"]), args.plot)
        print(f"wrote {args.plot}")
