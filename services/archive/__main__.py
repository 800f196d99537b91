"""`python -m services.archive [--host H] [--port P]`: run the archive service."""

from __future__ import annotations

from collections.abc import Sequence

from libs.common.serve import serve
from services.archive.app import create_app
from services.archive.settings import ArchiveSettings


def main(argv: Sequence[str] | None = None) -> None:
    serve(
        "archive",
        argv,
        ArchiveSettings,
        create_app,
        env_prefix="MMX_ARCHIVE_",
        default_port=9104,
    )


if __name__ == "__main__":
    main()
