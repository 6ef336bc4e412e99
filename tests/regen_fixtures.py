"""Regenerate the golden translations of fixtures/keras_to_torch/ (then review `git diff fixtures/`).

    python -m tests.regen_fixtures            # every case
    python -m tests.regen_fixtures lenet      # only these cases
    python -m tests.regen_fixtures --check    # write nothing; exit 1 if a golden is out of date

A golden is the engine's translation as reviewed by a person. Where the review found a defect, the
case has an entry in tests/test_fixtures.py KNOWN_BUGS (its golden test is an expected failure) and
CORRECTIONS there turns the engine's output into the output it should be: each correction is an
exact text replacement that must apply once. When one no longer applies (the bug was fixed, or the
output changed around it), this script writes nothing for that case and says so: review the new
output, then update CORRECTIONS and KNOWN_BUGS.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.test_fixtures import CASES, CORRECTIONS, KNOWN_BUGS, findings_path, reviewed, torch_path  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", help=f"cases to regenerate (default: all of {', '.join(CASES)})")
    parser.add_argument("--check", action="store_true", help="write nothing, report stale goldens")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.cases) - set(CASES))
    if unknown:
        parser.error(f"unknown case(s): {', '.join(unknown)}")
    bad = 0
    for case in args.cases or CASES:
        if (case in CORRECTIONS) != ((case, "golden") in KNOWN_BUGS):
            print(f"{case}: CORRECTIONS and KNOWN_BUGS[({case!r}, 'golden')] must go together")
            bad += 1
            continue
        texts, failed = reviewed(case)
        if failed:
            print(f"{case}: NOT written: corrections that no longer apply (bug fixed? output changed?): "
                  + "; ".join(failed))
            bad += 1
            continue
        for path, text in ((torch_path(case), texts["torch"]), (findings_path(case), texts["findings"])):
            if path.exists() and path.read_text() == text:
                continue
            bad += args.check
            print(f"{'stale' if args.check else 'wrote'}    {path.relative_to(ROOT)}")
            if not args.check:
                path.write_text(text)
    print(f"{len(args.cases or CASES)} case(s); {bad} {'stale or ' if args.check else ''}needing review")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
