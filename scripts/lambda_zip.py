"""Build the approval trigger's deployment package: approval_trigger/*.py under approval_trigger/.

    python3 scripts/lambda_zip.py [--output FILE]

Standard library only, so it runs before any environment exists. The zip is reproducible: the
same sources give the same bytes (sorted entries, a fixed timestamp and mode), so Terraform's
`source_code_hash` changes only when the code does. approval_trigger/main.tf reads the default
output, approval_trigger/build/lambda_function.zip; the hashicorp/archive provider is not needed.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE = REPO_ROOT / "approval_trigger"
DEFAULT_OUTPUT = PACKAGE / "build" / "lambda_function.zip"
# The earliest time a zip entry can carry; any fixed value makes the archive reproducible.
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644 << 16  # -rw-r--r--, in the external attributes' high bytes


def build_zip(output: Path, package: Path = PACKAGE) -> list[str]:
    """Write the zip of `package`'s modules to `output` atomically; return the entry names."""
    names: list[str] = []
    partial = output.with_name(output.name + ".partial")
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for module in sorted(package.glob("*.py")):
            entry = zipfile.ZipInfo(f"{package.name}/{module.name}", date_time=FIXED_TIME)
            entry.external_attr = FILE_MODE
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, module.read_bytes())
            names.append(entry.filename)
    partial.replace(output)
    return names


def main(argv: Sequence[str] | None = None) -> int:
    """Build the zip and print one line naming it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="zip to write")
    args = parser.parse_args(argv)
    try:
        names = build_zip(args.output)
    except OSError as error:
        print(
            f"cannot write {args.output}: {error.strerror}; name a writable --output",
            file=sys.stderr,
        )
        return 1
    print(f"wrote {args.output} ({len(names)} modules)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
