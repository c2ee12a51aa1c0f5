"""Route handlers of this area; filled in by its own change."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []
