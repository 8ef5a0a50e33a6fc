"""The digest of the detector's sources that the compiled scorer is built from.

`setup.py` stamps it into the compiled module (`_batch_c.SOURCE_DIGEST`) and
`vigie.rules.detectors.compiled` compares it with the sources beside it before using that
module. This file imports nothing from Vigie, so that the build can load it on its own.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

SOURCES = ("batch.py", "batch.pxd", "seasonal.py")
"""The modules Cython compiles (as `_batch_c` and `_seasonal_c`) and the C types of the
first one's loop, in this folder."""


def source_digest(folder: Path) -> str:
    """SHA-256 of the compiled modules' sources in `folder`, in `SOURCES` order."""
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()
