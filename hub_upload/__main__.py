"""Entry point for ``python -m hub_upload`` (see hub_upload.cli)."""

import sys

from hub_upload.cli import main

sys.exit(main())
