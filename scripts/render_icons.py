"""Render the app icons' PNG sizes from their SVG sources with Chromium (``make icons``).

Browsers that install the card page as an app want PNG icons of 192 and 512 pixels besides the SVG ones. The
SVG files are the source; run this after changing one and commit the PNG files it writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ICONS = Path(__file__).resolve().parent.parent / "familienkarte" / "static" / "icons"
SIZES = (192, 512)
SOURCES = ("card", "card-maskable")
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def main() -> int:
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: apt-get install -y chromium", file=sys.stderr)
        return 1
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for name in SOURCES:
            svg = (ICONS / f"{name}.svg").read_text(encoding="utf-8")
            for size in SIZES:
                page = browser.new_page(viewport={"width": size, "height": size}, device_scale_factor=1)
                page.set_content(
                    "<!doctype html><style>html,body{margin:0;background:transparent}"
                    f"svg{{display:block;width:{size}px;height:{size}px}}</style>{svg}"
                )
                target = ICONS / f"{name}-{size}.png"
                page.screenshot(path=str(target), omit_background=True)
                page.close()
                print(f"wrote {target.relative_to(ICONS.parent.parent.parent)}")
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
