"""Command line: ``python -m sdtheory <command>`` (also installed as ``readtwice-sd``).

Commands:
  table       memory bounds and algorithm register sizes (bits) for given n, k, l and passes
  rows        exact one-way state count after the first set, both orders, brute force vs closed form
  profile     least number of states at every stream position (certified intervals)
  witness     search for inputs that break a named algorithm (the lower-bound witness)
  measure     an algorithm's register bits and the distinct states it reaches, per position
  algorithms  list the streaming algorithms and their parameters

Examples:
  python -m sdtheory table --n 1024 --k 64 --l 8 --p 1 2 4
  python -m sdtheory rows --n 12 --k 3 --l 5
  python -m sdtheory profile --n 5 --k 2 --l 2 --order B-first
  python -m sdtheory witness --alg bloom --param filter_bits=4 --n 6 --k 3 --l 2
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from sdtheory import bounds, streaming, table, witness
from sdtheory.instances import Order, Variant
from sdtheory.one_way import one_way_states
from sdtheory.profile import memory_profile, profile_frame


def _param(text: str) -> tuple[str, int]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--param {text!r} must look like name=value")
    name, value = text.split("=", 1)
    try:
        return name, int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--param {text!r}: value must be an integer") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sdtheory", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def sizes(p: argparse.ArgumentParser, many: bool) -> None:
        nargs = "+" if many else None
        p.add_argument("--n", type=int, required=True, nargs=nargs, help="universe size")
        p.add_argument("--k", type=int, required=True, nargs=nargs, help="|A|")
        p.add_argument("--l", type=int, required=True, nargs=nargs, help="|B|")
        p.add_argument("--variant", default="decision", choices=[v.value for v in Variant])

    t = sub.add_parser("table", help="bounds and algorithm bits for a grid of n, k, l, passes")
    sizes(t, many=True)
    t.add_argument("--p", type=int, nargs="+", default=[1, 2], help="passes (JR-p)")
    t.add_argument("--long", action="store_true", help="print the tidy (long) table")
    t.add_argument("--csv", action="store_true", help="print CSV instead of a text table")

    r = sub.add_parser("rows", help="exact one-way states after the first set, both orders")
    sizes(r, many=False)

    pr = sub.add_parser("profile", help="least number of states at every position")
    sizes(pr, many=False)
    pr.add_argument("--order", default="A-first", choices=[o.value for o in Order])
    pr.add_argument("--p", type=int, default=1, help="passes (JR-p)")

    w = sub.add_parser("witness", help="find inputs that break a named algorithm")
    sizes(w, many=False)
    w.add_argument("--alg", required=True, choices=sorted(streaming.ALGORITHMS))
    w.add_argument("--param", type=_param, action="append", default=[], help="algorithm parameter name=int")
    w.add_argument("--order", default="A-first", choices=[o.value for o in Order])
    w.add_argument("--p", type=int, default=1, help="passes (JR-p)")

    me = sub.add_parser("measure", help="register bits and distinct states reached by an algorithm")
    sizes(me, many=False)
    me.add_argument("--alg", required=True, choices=sorted(streaming.ALGORITHMS))
    me.add_argument("--param", type=_param, action="append", default=[], help="algorithm parameter name=int")
    me.add_argument("--order", default="A-first", choices=[o.value for o in Order])
    me.add_argument("--p", type=int, default=1, help="passes (JR-p)")

    sub.add_parser("algorithms", help="list the streaming algorithms")
    return parser


def _table(args: argparse.Namespace) -> None:
    df = table.memory_table(args.n, args.k, args.l, passes=args.p, variant=args.variant)
    if df.empty:
        raise ValueError("no grid point has k, l <= n")
    if not args.long:
        df = df.pivot_table(
            index=["n", "k", "l", "order", "passes"], columns="quantity", values="bits", sort=False
        ).reset_index()
        df.columns.name = None
    if args.csv:
        print(df.to_csv(index=False), end="")
    else:
        with pd.option_context(
            "display.width", 250, "display.max_columns", 40, "display.float_format", "{:.2f}".format
        ):
            print(df.to_string(index=False))


def _rows(args: argparse.Namespace) -> None:
    variant = Variant.parse(args.variant)
    print(f"n={args.n}, |A|={args.k}, |B|={args.l}, variant={variant.value}")
    for order, (first, second) in ((Order.A_FIRST, (args.k, args.l)), (Order.B_FIRST, (args.l, args.k))):
        res = one_way_states(args.n, first, second, variant)
        closed = bounds.one_way_states_closed_form(args.n, first, second, variant)
        value = str(res.lower) if res.exact else f"[{res.lower}, {res.upper}]"
        print(
            f"  {order.value}: states after the first set {value} ({res.method}); "
            f"closed form {closed if closed is not None else 'none'}; bits {res.bits}"
        )


def _profile(args: argparse.Namespace) -> None:
    order = Order.parse(args.order)
    first, second = (args.k, args.l) if order is Order.A_FIRST else (args.l, args.k)
    pts = memory_profile(args.n, first, second, args.variant, passes=args.p)
    df = profile_frame(pts)
    print(f"n={args.n}, |A|={args.k}, |B|={args.l}, {order.value}, passes={args.p}, variant={args.variant}")
    with pd.option_context("display.width", 250, "display.max_colwidth", 70):
        print(df.to_string(index=False))


def _witness(args: argparse.Namespace) -> int:
    alg = streaming.make_algorithm(args.alg, args.variant, **dict(args.param))
    w = witness.find_failure(alg, args.n, args.k, args.l, args.order, passes=args.p)
    if w is None:
        checked = streaming.instance_batch(
            args.n, args.k, args.l, args.order, args.p, args.variant
        ).streams.shape[0]
        print(f"no failure: {alg!r} is correct on all {checked} valid inputs of this layout")
        return 0
    print(w.describe())
    return 0


def _measure(args: argparse.Namespace) -> None:
    alg = streaming.make_algorithm(args.alg, args.variant, **dict(args.param))
    m = streaming.measure_memory(alg, args.n, args.k, args.l, args.order, passes=args.p)
    print(f"{alg!r} on n={args.n}, |A|={args.k}, |B|={args.l}, {args.order}, passes={args.p}")
    print(f"  register (serialised state): {m.register_bits} bits")
    print(f"  distinct states reached, max over positions: {int(m.reached.max())} -> {m.reached_bits} bits")
    print(f"  per position: {m.reached.tolist()}")


def _algorithms() -> None:
    import inspect

    for name, cls in sorted(streaming.ALGORITHMS.items()):
        params = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "variant")]
        kind = "exact" if cls.exact else "under budget"
        print(f"{name:24s} passes >= {cls.min_passes}  {kind:12s} params: {', '.join(params) or '-'}")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 2 bad arguments or input)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "table":
            _table(args)
        elif args.command == "rows":
            _rows(args)
        elif args.command == "profile":
            _profile(args)
        elif args.command == "witness":
            return _witness(args)
        elif args.command == "measure":
            _measure(args)
        else:
            _algorithms()
    except (ValueError, TypeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
