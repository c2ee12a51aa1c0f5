"""The scanner page: cashiers verify cards and redeem benefits (camera, barcode scanner or typed number)."""

from __future__ import annotations

from typing import Any

ROUTES: list[Any] = []
