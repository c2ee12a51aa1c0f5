"""A partner's logo: checked by decoding it, never by its name or declared type, and stored re-encoded.

Only PNG, JPEG and WebP are decoded (no other Pillow decoder is tried on uploaded bytes). The image is refused when
it is too large in bytes or in pixels (decompression bombs declare huge dimensions in a few bytes), animated, or
unreadable. What is stored is a fresh PNG of at most 512x512 pixels made from the decoded pixels alone, so no
metadata (EXIF with GPS positions, comments, colour profiles) and nothing hidden in the original file survives.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from familienkarte.errors import N_, InvalidInput

FIELD = "logo"
MAX_BYTES = 2 * 1024 * 1024
# Far above any sensible logo (a 6000x4000 photo is 24 megapixels), far below what would exhaust memory.
MAX_PIXELS = 25_000_000
MAX_SIDE = 512
ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP")
STORED_TYPE = "image/png"


@dataclass(frozen=True)
class ProcessedLogo:
    data: bytes
    media_type: str
    width: int
    height: int


def _refuse(message: str, **params: object) -> InvalidInput:
    return InvalidInput.one(FIELD, message, **params)


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def process_logo(raw: bytes) -> ProcessedLogo:
    """Check an uploaded logo and return it re-encoded; InvalidInput on the field ``logo`` says what is wrong."""
    if not raw:
        raise _refuse(N_("Please choose an image file for your logo."))
    if len(raw) > MAX_BYTES:
        raise _refuse(N_("The logo may be at most %(megabytes)s MB large. Please choose a smaller file."), megabytes=2)
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its own limit and twice that: make the warning a refusal too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(raw), formats=list(ACCEPTED_FORMATS))
            width, height = opened.size
            if width * height > MAX_PIXELS or width <= 0 or height <= 0:
                raise _refuse(
                    N_("The logo has too many pixels. Please use an image of at most %(megapixels)s megapixels."),
                    megapixels=MAX_PIXELS // 1_000_000,
                )
            if getattr(opened, "is_animated", False) or getattr(opened, "n_frames", 1) > 1:
                raise _refuse(N_("Animated images cannot be used as a logo. Please choose a still image."))
            if opened.format == "JPEG":
                # Decode JPEGs at a reduced scale where possible: much faster, and enough for 512 pixels.
                opened.draft("RGB", (MAX_SIDE * 2, MAX_SIDE * 2))
            opened.load()
            image: Image.Image = ImageOps.exif_transpose(opened)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _refuse(
            N_("The logo has too many pixels. Please use an image of at most %(megapixels)s megapixels."),
            megapixels=MAX_PIXELS // 1_000_000,
        ) from None
    except UnidentifiedImageError:
        raise _refuse(N_("This file is not a PNG, JPEG or WebP image. Please choose one of these.")) from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise _refuse(N_("This image cannot be read; the file may be damaged. Please choose another one.")) from None
    image = image.convert("RGBA" if _has_alpha(image) else "RGB")
    image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    # Only the pixels go into the new file: no EXIF, text chunks or colour profile of the upload.
    clean = Image.new(image.mode, image.size)
    clean.paste(image)
    out = io.BytesIO()
    clean.save(out, format="PNG", optimize=True)
    return ProcessedLogo(out.getvalue(), STORED_TYPE, clean.width, clean.height)
