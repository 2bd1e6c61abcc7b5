"""Phone formats made here: a picture saved as HEIC or AVIF with an EXIF orientation, its
pixels stored turned, as a phone held sideways stores them, so it displays as the source."""

import io

import pillow_heif
from PIL import Image

# The stored pixels for each EXIF orientation: the displayed picture, undone (ImageOps'
# exif_transpose turns them back).
_STORED = {
    1: None,
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,  # displayed turned 90 degrees clockwise
    8: Image.Transpose.ROTATE_270,
}


def phone_file(source: bytes, fmt: str, orientation: int = 6) -> bytes:
    """`source` (any image) as `fmt` ("HEIF" or "AVIF"), quality 90, its pixels stored turned
    and an EXIF orientation tag saying how to show them."""
    pillow_heif.register_heif_opener()  # for saving; decode.py registers its own for reading
    image = Image.open(io.BytesIO(source)).convert("RGB")
    turn = _STORED[orientation]
    stored = image if turn is None else image.transpose(turn)
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    stored.save(out, fmt, quality=90, exif=exif.tobytes())
    return out.getvalue()
