"""Write bootstrap/policies/aws-image-registries.json: the accounts of AWS's image registries in
each region, from the SageMaker SDK's bundled image configuration (promotion/images.py).

    python scripts/aws_image_registries.py [--write]

bootstrap/stage grants the SageMaker execution role pulls from the stage region's accounts (and
from its own model repository) only; build.py refuses an image outside them. Terraform cannot run
the SDK, so the accounts are data; a test holds the file equal to what the installed SDK says
(`make docs` rewrites it after an SDK upgrade). Without --write: exit 1 when it is stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from promotion.images import aws_registries_by_region  # noqa: E402

FILE = Path(__file__).resolve().parent.parent / "bootstrap/policies/aws-image-registries.json"


def document() -> str:
    """The file's text: region -> sorted accounts."""
    found = {region: sorted(accounts) for region, accounts in aws_registries_by_region().items()}
    return json.dumps(found, indent=1, sort_keys=True) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the file")
    args = parser.parse_args(argv)
    wanted = document()
    if args.write:
        FILE.write_text(wanted, encoding="utf-8")
        return 0
    if not FILE.is_file() or FILE.read_text(encoding="utf-8") != wanted:
        print(f"{FILE.name} is stale: run `make docs`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
