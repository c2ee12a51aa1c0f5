"""The card page's web app manifest: what a phone needs to install the card as an app."""

from __future__ import annotations

import json
import struct
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "familienkarte" / "static"


def manifest() -> dict[str, object]:
    data: dict[str, object] = json.loads((STATIC / "manifest.webmanifest").read_text(encoding="utf-8"))
    return data


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG file"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_the_manifest_opens_the_card_standalone() -> None:
    data = manifest()
    assert data["start_url"] == "/card"
    assert data["scope"] == "/card"
    assert data["display"] == "standalone"
    assert data["name"]
    assert data["short_name"]


def test_every_icon_exists_with_the_size_it_claims() -> None:
    icons = manifest()["icons"]
    assert isinstance(icons, list)
    for icon in icons:
        path = STATIC / icon["src"].removeprefix("/static/")
        assert path.is_file(), icon["src"]
        if icon["type"] == "image/png":
            width, height = png_size(path)
            assert icon["sizes"] == f"{width}x{height}", icon["src"]


def test_png_icons_of_192_and_512_pixels_for_installing_and_for_masking() -> None:
    icons = manifest()["icons"]
    assert isinstance(icons, list)
    pngs = {(icon["sizes"], icon["purpose"]) for icon in icons if icon["type"] == "image/png"}
    for purpose in ("any", "maskable"):
        assert {("192x192", purpose), ("512x512", purpose)} <= pngs
