"""Send a GPU call only what its sweep reads of the committed records, and merge what comes back.

    python bench/slim_records.py slim  results/sd_order/paper/runs.jsonl
    python bench/slim_records.py merge results/sd_order/paper/runs.jsonl RETURNED.jsonl

A device call sends the working tree (64 MiB at most, with the carried wheels and snapshots). The
paper profile's records are about 34 KB each (the analysis tables and the evaluation history), 22 MB
at 640 runs, yet the sweep on the device only reads which runs are done (:data:`KEPT`: the fields
every record has, :data:`synthetic.record.REQUIRED_FIELDS`, about 3 KB). ``slim`` rewrites the
file in the working tree with those fields of each committed record, in the same order (the file
must equal its committed version: nothing local is lost). After the call, ``merge`` restores the
committed records and appends the records the call added: the returned file must begin with the
slim lines that were sent, byte for byte; anything else is refused (a file that was sent whole must
be extended by the returned one, as before), and so is a returned result of a run that already has
one here (the archive included: the same files merged twice). ``bench/gpu_session.sh slim`` and
``unpack`` run these.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthetic.record import REQUIRED_FIELDS, RESULT_STATUSES
from synthetic.results import ResultsStore

#: what a slim record keeps
KEPT: tuple[str, ...] = tuple(REQUIRED_FIELDS)


def slim_lines(full: str) -> str:
    """JSON lines -> the same records with the fields of :data:`KEPT` only (same order, same
    formatting rules as the store: one compact JSON object a line). Raises ValueError naming the
    line for a line that is not a JSON object or lacks a kept field."""
    out = []
    for i, line in enumerate(full.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"line {i} is not JSON ({err.msg})") from None
        missing = [k for k in KEPT if not isinstance(record, dict) or k not in record]
        if missing:
            raise ValueError(f"line {i} lacks {missing}: not a run record")
        out.append(json.dumps({k: record[k] for k in KEPT}, separators=(",", ":")))
    return "".join(line + "\n" for line in out)


def merge(full: str, sent: str, returned: str) -> str:
    """The committed records ``full``, then the records the call appended to the ``sent`` (slim)
    file: ``returned`` must begin with ``sent`` byte for byte (the sweep only appends); what
    follows must be whole lines."""
    if not returned.startswith(sent):
        raise ValueError(
            "the returned records do not begin with the slim records that were sent (the sweep only "
            "appends): not merged"
        )
    added = returned[len(sent) :]
    if added and not added.endswith("\n"):
        raise ValueError("the returned records end with a partial line: not merged")
    if full and not full.endswith("\n"):
        raise ValueError("the committed records end with a partial line: not merged")
    return full + added


def _result_records(added: str) -> list[dict]:
    """The result records (status ``ok`` or ``failed``) among the JSON lines ``added``, in order."""
    return [r for r in map(json.loads, added.splitlines()) if r.get("status") in RESULT_STATUSES]


def recorded_again(added: str, done: set[str]) -> list[str]:
    """Config hashes of the result records (status ``ok`` or ``failed``) among the JSON lines
    ``added`` whose runs ``done`` already holds. A sweep never trains a run that has a result, so
    such a line comes from merging the same returned files twice."""
    return [r["config_hash"] for r in _result_records(added) if r.get("config_hash") in done]


def new_results_summary(added: str) -> list[str]:
    """One line per (d_model, f, variant, init, status) of the result records among the JSON lines
    ``added``, with how many runs, in the order first seen: what a commit of the merge should
    name."""
    counts: dict[tuple[object, ...], int] = {}
    for record in _result_records(added):
        shape = record.get("summary") or {}
        key = (shape.get("d_model"), shape.get("feature_dim"), shape.get("variant"), shape.get("init"),
               record["status"])  # fmt: skip
        counts[key] = counts.get(key, 0) + 1
    return [f"  d_model {d} f {f} {variant} init {init}: {n} {status}"
            for (d, f, variant, init, status), n in counts.items()]  # fmt: skip


def commit_subject(added: str) -> str | None:
    """The subject of the commit that lands the result records among the JSON lines ``added``,
    built from the records themselves (None without results): profile, GPU, commit, how many runs
    and how many of each d_model and f, e.g. ``paper chunk (H100, 5e3592a): 18 runs, d_model 128
    f=16 x15, f=24 x3``. Typed by hand, such subjects named the wrong split twice."""
    results = _result_records(added)
    if not results:
        return None

    def distinct(values: list[str]) -> str:
        return "/".join(dict.fromkeys(values))

    def gpu(device: object) -> str:  # "cuda:0 (NVIDIA H100 80GB HBM3)" -> "H100"; "cpu" -> "cpu"
        name = str(device or "?").partition("(")[2].rstrip(")").removeprefix("NVIDIA ").split()
        return name[0] if name else str(device or "?")

    shapes: dict[object, dict[object, int]] = {}
    for r in results:
        summary = r.get("summary") or {}
        per_f = shapes.setdefault(summary.get("d_model"), {})
        per_f[summary.get("feature_dim")] = per_f.get(summary.get("feature_dim"), 0) + 1
    profile = distinct([str((r.get("summary") or {}).get("profile", "sweep")) for r in results])
    commits = distinct([str(r.get("commit") or "?")[:7] for r in results])
    where = f"{distinct([gpu(r.get('device')) for r in results])}, {commits}"
    failed = sum(r["status"] != "ok" for r in results)
    runs = f"{len(results)} run{'s' * (len(results) != 1)}" + (f" ({failed} failed)" if failed else "")
    split = "; ".join(
        f"d_model {d} " + ", ".join(f"f={f} x{n}" for f, n in per_f.items()) for d, per_f in shapes.items()
    )
    return f"{profile} chunk ({where}): {runs}, {split}"


def _committed(path: Path) -> str | None:
    """``path``'s content at git HEAD (None when HEAD has no such file)."""
    root = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True)
    rel = path.resolve().relative_to(Path(root.stdout.strip()))
    shown = subprocess.run(["git", "show", f"HEAD:{rel.as_posix()}"], capture_output=True, text=True)
    return None if shown.returncode else shown.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("slim", help="rewrite PATH (equal to its committed version) with slim records")
    s.add_argument("path", type=Path)
    m = sub.add_parser(
        "merge", help="PATH's records (the committed ones if PATH is slim) and what RETURNED added to them"
    )
    m.add_argument("path", type=Path)
    m.add_argument("returned", type=Path)
    args = parser.parse_args(argv)
    committed = _committed(args.path)
    if args.command == "slim":
        if committed is None:
            raise SystemExit(f"{args.path} is not committed: commit it first")
        here = args.path.read_text(encoding="utf-8")
        if here == slim_lines(committed):
            print(f"{args.path}: already slim")
            return 0
        if here != committed:
            raise SystemExit(f"{args.path} differs from its committed version: commit it first")
        slim = slim_lines(committed)
        args.path.write_text(slim, encoding="utf-8")
        print(f"{args.path}: {len(committed.encode()) / 1e6:.1f} MB -> {len(slim.encode()) / 1e6:.1f} MB")
        return 0
    returned = args.returned.read_text(encoding="utf-8")
    here = args.path.read_text(encoding="utf-8") if args.path.exists() else ""
    sent_slim = committed is not None and here == slim_lines(committed) and here != committed
    try:
        if committed is not None and sent_slim:  # a slim call: the committed records + the new ones
            merged, base = merge(committed, here, returned), committed
        else:  # the whole file was sent: the returned one must extend it
            merged, base = merge(here, here, returned), here
        again = recorded_again(merged[len(base) :], ResultsStore(args.path).done_hashes())
    except ValueError as err:
        raise SystemExit(f"{args.path}: {err}") from None
    if again:
        raise SystemExit(
            f"{args.path}: {len(again)} returned records are results of runs already recorded here "
            f"(e.g. {again[0]}): these files were merged before (unpack ran twice?); nothing merged"
        )
    args.path.write_text(merged, encoding="utf-8")
    print(f"{args.path}: {base.count(chr(10))} records kept, {merged[len(base) :].count(chr(10))} new")
    print("\n".join(new_results_summary(merged[len(base) :])))
    subject = commit_subject(merged[len(base) :])
    if subject:
        print(f"commit subject: {subject}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
