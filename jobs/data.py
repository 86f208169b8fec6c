"""data job: download FewRel val + ``pid2name.json``, Wiki80 with its K-shot splits and SemEval, checking sha256.

Without a network it says which files to copy where. Ends with one JSON line.

Usage: ``python -m jobs.data fetch --dest data [--only fewrel,wiki80] [--mirror wiki80=https://...]`` (= ``tkre data fetch ...``)
"""

from __future__ import annotations

import json

from tkre.config import job_parser
from tkre.data.fetch import fetch
from tkre.errors import ConfigError, user_errors


def mirror(value: str) -> tuple[str, str]:
    name, _, url = value.partition("=")
    if not url:
        raise ConfigError(f"--mirror {value}: expected DATASET=URL")
    return name, url


def main(argv: list[str] | None = None, prog: str = "python -m jobs.data") -> dict:
    parser = job_parser(__doc__.split("\n")[0], prog, config=False)
    parser.add_argument("action", choices=["fetch"])
    parser.add_argument("--dest", default="data", help="folder to write (point TKRE_DATA_DIR at it)")
    parser.add_argument("--only", help="comma-separated subset of fewrel,wiki80,semeval")
    parser.add_argument("--mirror", action="append", default=[], metavar="DATASET=URL", help="another base URL for a dataset")
    with user_errors(prog):
        args = parser.parse_args(argv)
        summary = fetch(args.dest, only=args.only.split(",") if args.only else None,
                        base_urls=dict(mirror(m) for m in args.mirror))
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
