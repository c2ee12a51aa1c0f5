"""Logos: real images are accepted and re-encoded; anything else is refused on the field "logo"."""

from __future__ import annotations

import io
import os
import struct
import zlib

import pytest
from PIL import Image

from familienkarte import i18n
from familienkarte.errors import InvalidInput
from familienkarte.partners.logos import MAX_BYTES, MAX_SIDE, process_logo


def image_bytes(fmt: str, size: tuple[int, int] = (64, 48), mode: str = "RGB", **save: object) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (200, 30, 40) if mode == "RGB" else (200, 30, 40, 128)).save(out, format=fmt, **save)
    return out.getvalue()


def refusal(raw: bytes) -> str:
    with pytest.raises(InvalidInput) as refused:
        process_logo(raw)
    assert [e.field for e in refused.value.errors] == ["logo"]
    error = refused.value.errors[0]
    with i18n.use_locale("en"):
        return i18n.gettext(error.message, **error.params)


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_png_jpeg_and_webp_are_accepted_and_stored_as_png(fmt: str) -> None:
    logo = process_logo(image_bytes(fmt))
    assert logo.media_type == "image/png"
    image = decoded(logo.data)
    assert image.format == "PNG"
    assert image.size == (64, 48) == (logo.width, logo.height)


def test_transparency_is_kept() -> None:
    image = decoded(process_logo(image_bytes("PNG", mode="RGBA")).data)
    assert image.mode == "RGBA"
    assert image.getpixel((0, 0))[3] == 128  # type: ignore[index]


def test_large_images_are_scaled_to_512_pixels_keeping_their_shape() -> None:
    logo = process_logo(image_bytes("JPEG", size=(2000, 1000)))
    assert (logo.width, logo.height) == (MAX_SIDE, MAX_SIDE // 2)
    assert decoded(logo.data).size == (512, 256)


def test_exif_and_other_metadata_are_stripped() -> None:
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # camera make
    exif[0x0131] = "Editor 1.0"  # software
    out = io.BytesIO()
    Image.new("RGB", (32, 32), "blue").save(out, format="JPEG", exif=exif.tobytes(), comment=b"secret comment")
    raw = out.getvalue()
    assert b"SecretCam" in raw
    stored = process_logo(raw).data
    assert b"SecretCam" not in stored
    assert b"secret comment" not in stored
    image = decoded(stored)
    assert dict(image.getexif()) == {}
    assert "exif" not in image.info
    assert "icc_profile" not in image.info


def test_png_text_chunks_are_stripped() -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Author", "Private Person")
    stored = process_logo(image_bytes("PNG", pnginfo=info)).data
    assert b"Private Person" not in stored


def test_a_text_file_named_png_is_refused() -> None:
    assert "not a PNG, JPEG or WebP image" in refusal(b"Hello, I am text pretending to be logo.png\n" * 10)


def test_a_gif_is_refused() -> None:
    assert "not a PNG, JPEG or WebP image" in refusal(image_bytes("GIF"))


def test_an_animated_webp_is_refused() -> None:
    frames = [Image.new("RGB", (20, 20), colour) for colour in ("red", "green", "blue")]
    out = io.BytesIO()
    frames[0].save(out, format="WEBP", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert "Animated images" in refusal(out.getvalue())


def test_an_animated_png_is_refused() -> None:
    frames = [Image.new("RGB", (20, 20), colour) for colour in ("red", "green")]
    out = io.BytesIO()
    frames[0].save(out, format="PNG", save_all=True, append_images=frames[1:], duration=100)
    assert "Animated images" in refusal(out.getvalue())


def test_a_file_over_2_mb_is_refused() -> None:
    noise = Image.frombytes("RGB", (1024, 1024), os.urandom(1024 * 1024 * 3))
    out = io.BytesIO()
    noise.save(out, format="PNG")
    raw = out.getvalue()
    assert len(raw) > 3 * 1000 * 1000 > MAX_BYTES
    assert "at most 2 MB" in refusal(raw)


def test_an_empty_file_is_refused() -> None:
    assert "Please choose an image file" in refusal(b"")


def _png_declaring(width: int, height: int) -> bytes:
    """A valid small PNG whose header claims the given dimensions."""
    raw = bytearray(image_bytes("PNG", size=(1, 1)))
    ihdr = raw.index(b"IHDR")
    raw[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(raw[ihdr : ihdr + 17]))
    raw[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    return bytes(raw)


@pytest.mark.parametrize(("width", "height"), [(100_000, 100_000), (10_000, 10_000), (6_000, 5_000)])
def test_a_decompression_bomb_is_refused(width: int, height: int) -> None:
    bomb = _png_declaring(width, height)
    assert len(bomb) < 200
    assert "too many pixels" in refusal(bomb)


def test_a_truncated_image_is_refused() -> None:
    raw = image_bytes("PNG", size=(300, 300))
    assert "cannot be read" in refusal(raw[: len(raw) // 2])
