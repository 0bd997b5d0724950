"""Upload photo check: is it a scalp close-up (stage 1), and is it usable (stage 2)?

    >>> from photo_check import check_photo
    >>> check_photo(PIL.Image.open("scalp.jpg")).verdict     # "ok" | "retake" | "not_scalp"

    python -m photo_check check IMAGE
    python -m photo_check fit --out DIR

The fitted check ships in ``fitted/photo_check.json`` (read, never fitted, at start). See
``photo_check.check`` for the API, ``photo_check.fit`` for how it is fitted and refitted and
``messages.yaml`` for the rules and the Korean/English messages.
"""

from photo_check.check import (
    PhotoCheck,
    PhotoChecker,
    PhotoCheckUnavailable,
    check_file,
    check_photo,
    load_checker,
)
from photo_check.fit import FitConfig, fit

__all__ = ["FitConfig", "PhotoCheck", "PhotoCheckUnavailable", "PhotoChecker", "check_file", "check_photo", "fit",
           "load_checker"]
