"""The environment of an imagegen subprocess a test starts: the developer's and the
test run's IMAGEGEN_* settings stripped, except the selection and refinement settings
conftest sets for the suites that count one image per chapter (tests/conftest.py)."""

from __future__ import annotations

import os

KEPT = (
    "IMAGEGEN_SELECTION__CANDIDATES",
    "IMAGEGEN_SELECTION__JUDGE",
    "IMAGEGEN_REFINE__ENABLED",
)


def child_env(strip: tuple[str, ...] = ("IMAGEGEN_",)) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in KEPT or not k.startswith(strip)}
