"""``python -m netlab.check``: run every live experiment of the course, print each claim with the model's answer
beside your kernel's, and one summary line. Progress goes to stderr, one line per claim as it is checked.
``--quick`` runs smaller experiments; ``--chapter 07`` (repeatable) only those chapters'. Exits 0 whatever the
kernel answered, also where namespaces are refused (those claims are "not measurable here")."""
import argparse
import sys

from netlab.live.claims import Claim
from netlab.scenarios.kernel_check import collect
from netlab.view.claims import claims_table, summary_line


def _progress(row: Claim, seconds: float) -> None:
    print(f"after {seconds:4.1f} s, chapter {row.chapter}: {row.claim} ({row.parameters}) — {row.verdict}",
          file=sys.stderr, flush=True)


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m netlab.check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller experiments (for CI)")
    parser.add_argument("--chapter", action="append", help="only this chapter's claims, e.g. 07 (repeatable)")
    args = parser.parse_args(argv)
    rows = collect(args.chapter, quick=args.quick, progress=_progress)
    print(claims_table(rows))
    print(summary_line(rows))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
