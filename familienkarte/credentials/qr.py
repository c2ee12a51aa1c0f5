"""QR codes for FK1 presentations: SVG for screens, and the version (size) the encoder picks.

Error correction follows CREDENTIAL.md: M on screens, Q on print.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import qrcode
import qrcode.constants
from qrcode.image.svg import SvgPathFillImage

ErrorCorrection = Literal["L", "M", "Q", "H"]

_LEVELS: Final = {
    "L": qrcode.constants.ERROR_CORRECT_L,
    "M": qrcode.constants.ERROR_CORRECT_M,
    "Q": qrcode.constants.ERROR_CORRECT_Q,
    "H": qrcode.constants.ERROR_CORRECT_H,
}


def _qr_code(text: str, error_correction: ErrorCorrection, **options: Any) -> Any:
    if error_correction not in _LEVELS:
        raise ValueError(f"error correction must be one of {', '.join(_LEVELS)}")
    code = qrcode.QRCode(version=None, error_correction=_LEVELS[error_correction], **options)
    code.add_data(text)
    code.make(fit=True)
    return code


def qr_version(text: str, error_correction: ErrorCorrection = "M") -> int:
    """The smallest QR version (1 to 40) that holds ``text`` at this error correction, as the encoder picks it."""
    return int(_qr_code(text, error_correction).version)


def qr_svg(text: str, error_correction: ErrorCorrection = "M", *, border: int = 4) -> str:
    """A standalone SVG document (one path, white background, scalable by its viewBox) of the QR code."""
    code = _qr_code(text, error_correction, border=border)
    image = code.make_image(image_factory=SvgPathFillImage)
    return str(image.to_string(encoding="unicode"))
