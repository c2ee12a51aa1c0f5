"""What the scanner page needs to work offline: the offline bundle and the upload of queued redemptions."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []
