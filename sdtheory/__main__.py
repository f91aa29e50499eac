"""Command line: python -m sdtheory COMMAND (also installed as readtwice-sd).

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

k = |A| and l = |B| in every command; --order says which set the stream shows first.
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
import textwrap

import pandas as pd

from sdtheory import bounds, streaming, table, witness
from sdtheory.combinatorics.integers import check_int
from sdtheory.instances import Order, Variant
from sdtheory.matrices import MAX_EXACT_N
from sdtheory.one_way import one_way_states
from sdtheory.profile import memory_profile, profile_frame
from sdtheory.profile.multi_pass import MAX_JRP_ENTRIES, check_jrp_size

DESCRIPTION = """Exact theory of set disjointness (SD): bounds, exact state counts, memory profiles, and
streaming algorithms with the inputs that break them. k = |A| and l = |B| in every command;
--order says which set the stream shows first.

examples:
  python -m sdtheory table --n 1024 --k 64 --l 8 --p 1 2 4
  python -m sdtheory rows --n 12 --k 3 --l 5
  python -m sdtheory profile --n 5 --k 2 --l 2 --order B-first
  python -m sdtheory witness --alg bloom --param filter_bits=4 --n 6 --k 3 --l 2
"""

LIMITS = {
    "table": f"binomials C(n, m) up to {bounds.MAX_BINOMIAL_BITS} bits (MAX_BINOMIAL_BITS); the "
    f"shared-element one-pass bound without a closed form needs n <= {MAX_EXACT_N} (MAX_EXACT_N)",
    "rows": f"n <= {MAX_EXACT_N} (MAX_EXACT_N: every input is enumerated)",
    "profile": f"n <= {MAX_EXACT_N} (MAX_EXACT_N); with --p >= 2 at most {MAX_JRP_ENTRIES} "
    "(input, subset) pairs (MAX_JRP_ENTRIES)",
    "witness": f"n <= {streaming.MAX_BATCH_N} (MAX_BATCH_N) and at most {streaming.MAX_BATCH_TOKENS} "
    "stream tokens, C(n, k) C(n, l) p (k + l + 1) (MAX_BATCH_TOKENS, about 1 GB)",
}
LIMITS["measure"] = LIMITS["witness"]


def _limits_text(commands: list[str]) -> str:
    lines = ["limits (larger inputs are refused before any work, with the limit in the message):"]
    for c in commands:
        lines.append(
            textwrap.fill(LIMITS[c], 96, initial_indent=f"  {c + ':':10s}", subsequent_indent=" " * 12)
        )
    return "\n".join(lines)


EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader left


def _param(text: str) -> tuple[str, int]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--param {text!r} must look like name=value")
    name, value = text.split("=", 1)
    try:
        return name, int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--param {text!r}: value must be an integer") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m sdtheory``: one sub-command per command, every option
    with its help text, and each command's size limits in its epilog."""
    parser = argparse.ArgumentParser(
        prog="python -m sdtheory",
        description=DESCRIPTION,
        epilog=_limits_text(list(LIMITS)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=summary,
            description=summary[0].upper() + summary[1:] + ".",
            epilog=_limits_text([name]) if name in LIMITS else None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    def sizes(p: argparse.ArgumentParser, many: bool) -> None:
        nargs = "+" if many else None
        several = " (one or more)" if many else ""
        p.add_argument(
            "--n", type=int, required=True, nargs=nargs, help=f"universe size n, elements 0..n-1{several}"
        )
        p.add_argument(
            "--k", type=int, required=True, nargs=nargs, help=f"|A|, the size of Alice's set{several}"
        )
        p.add_argument(
            "--l", type=int, required=True, nargs=nargs, help=f"|B|, the size of Bob's set{several}"
        )
        p.add_argument(
            "--variant",
            default="decision",
            choices=[v.value for v in Variant],
            help="decision: output whether A and B are disjoint; shared-element: under the promise "
            "|A ∩ B| = 1 output the shared element (default: %(default)s)",
        )

    def order(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--order",
            default="A-first",
            choices=[o.value for o in Order],
            help="which set the stream shows first (default: %(default)s)",
        )

    def passes(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--p", type=int, default=1, help="passes: the stream is read p times (JR-p; default: %(default)s)"
        )

    def algorithm(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--alg",
            required=True,
            choices=sorted(streaming.ALGORITHMS),
            help="the streaming algorithm (python -m sdtheory algorithms lists them with their parameters)",
        )
        p.add_argument(
            "--param",
            type=_param,
            action="append",
            default=[],
            metavar="NAME=INT",
            help="an integer parameter of the algorithm, e.g. filter_bits=4 (repeat for several)",
        )

    t = command("table", "bounds and algorithm register sizes in bits over a grid of n, k, l and passes")
    sizes(t, many=True)
    t.add_argument(
        "--p", type=int, nargs="+", default=[1, 2], help="passes (JR-p), one or more (default: 1 2)"
    )
    t.add_argument("--long", action="store_true", help="print the tidy table, one row per quantity")
    t.add_argument("--csv", action="store_true", help="print CSV instead of an aligned text table")

    r = command(
        "rows", "exact one-way state count after the first set, both orders, brute force vs closed form"
    )
    sizes(r, many=False)

    pr = command("profile", "least number of states of any correct algorithm at every stream position")
    sizes(pr, many=False)
    order(pr)
    passes(pr)

    w = command("witness", "search every input of a small layout for one that breaks a named algorithm")
    sizes(w, many=False)
    algorithm(w)
    order(w)
    passes(w)

    me = command(
        "measure", "register bits of an algorithm and the distinct states it reaches at each position"
    )
    sizes(me, many=False)
    algorithm(me)
    order(me)
    passes(me)

    command("algorithms", "list the streaming algorithms, their passes and parameters")
    return parser


def _check_layout(n: int, k: int, l: int, p: int = 1, max_n: int | None = None, limit: str = "") -> None:
    """--n, --k, --l, --p as typed: 1 <= n (<= max_n, named ``limit``), 0 <= k, l <= n, p >= 1."""
    check_int("--n", n, 1)
    if max_n is not None and n > max_n:
        raise ValueError(f"--n={n}: this command enumerates every input, so n <= {max_n} ({limit})")
    for name, v in (("--k", k), ("--l", l)):
        if not 0 <= v <= n:
            raise ValueError(f"{name}={v} must satisfy 0 <= {name} <= --n={n}")
    check_int("--p", p, 1)


def _table(args: argparse.Namespace) -> None:
    for n in args.n:
        check_int("--n", n, 1)
    for name, values in (("--k", args.k), ("--l", args.l)):
        for v in values:
            check_int(name, v, 0)
    for p in args.p:
        check_int("--p", p, 1)
    df = table.memory_table(args.n, args.k, args.l, passes=args.p, variant=args.variant)
    if df.empty:
        raise ValueError("no grid point has --k and --l <= --n")
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
    _check_layout(args.n, args.k, args.l, max_n=MAX_EXACT_N, limit="MAX_EXACT_N")
    variant = Variant.parse(args.variant)
    lines = [f"n={args.n}, |A|={args.k}, |B|={args.l}, variant={variant.value}"]
    for order, (first, second) in ((Order.A_FIRST, (args.k, args.l)), (Order.B_FIRST, (args.l, args.k))):
        res = one_way_states(args.n, first, second, variant)
        closed = bounds.one_way_states_closed_form(args.n, first, second, variant)
        value = str(res.lower) if res.exact else f"[{res.lower}, {res.upper}]"
        lines.append(
            f"  {order.value}: states after the first set {value} ({res.method}); "
            f"closed form {closed if closed is not None else 'none'}; bits {res.bits}"
        )
    print("\n".join(lines))  # everything computed before anything is printed


def _profile(args: argparse.Namespace) -> None:
    _check_layout(args.n, args.k, args.l, args.p, max_n=MAX_EXACT_N, limit="MAX_EXACT_N")
    order = Order.parse(args.order)
    first, second = (args.k, args.l) if order is Order.A_FIRST else (args.l, args.k)
    if args.p >= 2:
        check_jrp_size(args.n, first, second, args.variant)
    pts = memory_profile(args.n, first, second, args.variant, passes=args.p)
    df = profile_frame(pts)
    print(f"n={args.n}, |A|={args.k}, |B|={args.l}, {order.value}, passes={args.p}, variant={args.variant}")
    with pd.option_context("display.width", 250, "display.max_colwidth", 70):
        print(df.to_string(index=False))


def _batch_layout(args: argparse.Namespace) -> None:
    _check_layout(args.n, args.k, args.l, args.p, max_n=streaming.MAX_BATCH_N, limit="MAX_BATCH_N")
    streaming.check_batch_size(args.n, args.k, args.l, args.p)


def _witness(args: argparse.Namespace) -> None:
    _batch_layout(args)
    alg = streaming.make_algorithm(args.alg, args.variant, **dict(args.param))
    w = witness.find_failure(alg, args.n, args.k, args.l, args.order, passes=args.p)
    if w is None:
        checked = streaming.instance_batch(
            args.n, args.k, args.l, args.order, args.p, args.variant
        ).streams.shape[0]
        print(f"no failure: {alg!r} is correct on all {checked} valid inputs of this layout")
        return
    print(w.describe())


def _measure(args: argparse.Namespace) -> None:
    _batch_layout(args)
    alg = streaming.make_algorithm(args.alg, args.variant, **dict(args.param))
    m = streaming.measure_memory(alg, args.n, args.k, args.l, args.order, passes=args.p)
    print(f"{alg!r} on n={args.n}, |A|={args.k}, |B|={args.l}, {args.order}, passes={args.p}")
    print(f"  register (serialised state): {m.register_bits} bits")
    print(f"  distinct states reached, max over positions: {int(m.reached.max())} -> {m.reached_bits} bits")
    print(f"  per position: {m.reached.tolist()}")


def _algorithms() -> None:
    for name, cls in sorted(streaming.ALGORITHMS.items()):
        params = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "variant")]
        kind = "exact" if cls.exact else "under budget"
        print(f"{name:24s} passes >= {cls.min_passes}  {kind:12s} params: {', '.join(params) or '-'}")


COMMANDS = {
    "table": _table,
    "rows": _rows,
    "profile": _profile,
    "witness": _witness,
    "measure": _measure,
    "algorithms": lambda _args: _algorithms(),
}


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 2 bad arguments, input or size; 141 when the
    reader of the output went away, e.g. ``| head``)."""
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
        sys.stdout.flush()  # a closed pipe shows up here, inside the handler
    except (ValueError, TypeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader left (| head): no traceback; stdout goes to devnull so that the flush at
        # interpreter exit does not fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE
    return 0


if __name__ == "__main__":
    sys.exit(main())
