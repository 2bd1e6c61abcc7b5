"""Edits that draw around or over the picture: screenshots, pads, captions, stickers.

Each takes the picture and a numpy Generator and returns the edited picture and a short
description of the parameters drawn. Text is drawn with PIL's built-in font
(`ImageFont.load_default`): nothing is downloaded or read from the system.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
from PIL import Image, ImageDraw, ImageFont

Rng = np.random.Generator
Colour = tuple[int, int, int]

# Screens people take screenshots on: laptop, desktop, tablet and phone, both orientations.
SCREENS: Final = ((1280, 800), (1366, 768), (1920, 1080), (1024, 768), (750, 1334), (1080, 1920))
WORDS: Final = (
    "BREAKING",
    "seen online",
    "what they",
    "don't want",
    "you to see",
    "SHARE",
    "before",
    "it's deleted",
    "WOW",
    "this happened",
    "today",
    "look again",
    "real?",
    "2026",
    "viral",
)


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, size))


def colour(rng: Rng) -> Colour:
    """Any colour, with white and black (the commonest borders and bars) a third each."""
    pick = rng.integers(3)
    if pick == 0:
        return (255, 255, 255)
    if pick == 1:
        return (0, 0, 0)
    r, g, b = rng.integers(0, 256, size=3)
    return (int(r), int(g), int(b))


def contrast(c: Colour) -> Colour:
    return (0, 0, 0) if sum(c) > 384 else (255, 255, 255)


def phrase(rng: Rng, words: int) -> str:
    return " ".join(str(w) for w in rng.choice(WORDS, size=words))


def _text(
    draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], text: str, fill: Colour
) -> None:
    """`text` in the built-in font, as large as fits the box's height, centred."""
    left, top, right, bottom = box
    size = max(8, round((bottom - top) * 0.6))
    f = font(size)
    width = draw.textlength(text, font=f)
    if width > right - left:  # shrink to fit the width
        f = font(max(8, math.floor(size * (right - left) / max(width, 1))))
        width = draw.textlength(text, font=f)
    draw.text(((left + right - width) / 2, top + (bottom - top) * 0.2), text, fill=fill, font=f)


def pad(img: Image.Image, rng: Rng) -> tuple[Image.Image, str]:
    """A border of one colour, each side its own width, 0-25% of that side (one >= 3%)."""
    width, height = img.size
    shares = rng.uniform(0.0, 0.25, size=4)
    shares[rng.integers(4)] = rng.uniform(0.03, 0.25)
    left, top, right, bottom = (
        round(s * n) for s, n in zip(shares, (width, height) * 2, strict=True)
    )
    fill = colour(rng)
    canvas = Image.new("RGB", (width + left + right, height + top + bottom), fill)
    canvas.paste(img, (left, top))
    sides = "/".join(f"{s:.2f}" for s in shares)
    return canvas, f"pad l/t/r/b={sides} colour={fill}"


def caption(img: Image.Image, rng: Rng) -> tuple[Image.Image, str]:
    """Caption bars covering 5-20% of the height in all, at the top, the bottom or both (meme
    style), either laid over the picture or added to it."""
    where = str(rng.choice(["top", "bottom", "both"]))
    share = rng.uniform(0.05, 0.20)
    over = bool(rng.integers(2))
    width, height = img.size
    bars = [b for b in ("top", "bottom") if where in (b, "both")]
    bar = max(8, round(height * share / len(bars)))
    if over:
        out, offset = img.copy(), 0
    else:
        out = Image.new("RGB", (width, height + bar * len(bars)))
        offset = bar if "top" in bars else 0
        out.paste(img, (0, offset))
    fill = colour(rng)
    draw = ImageDraw.Draw(out)
    for name in bars:
        top = 0 if name == "top" else out.height - bar
        draw.rectangle((0, top, width, top + bar), fill=fill)
        _text(draw, (4, top, width - 4, top + bar), phrase(rng, 3), contrast(fill))
    mode = "over" if over else "added"
    return out, f"caption {where} {share:.2f} {mode} colour={fill}"


def _sticker(draw: ImageDraw.ImageDraw, rng: Rng, box: tuple[int, int, int, int]) -> str:
    left, top, right, bottom = box
    side = right - left
    shape = str(rng.choice(["face", "star", "heart", "label"]))
    fill = colour(rng) if shape != "face" else (255, 204, 51)
    if shape == "face":  # an emoji: a yellow disc with eyes and a smile
        draw.ellipse(box, fill=fill, outline=(120, 80, 0), width=max(1, side // 20))
        eye = side // 8
        for ex in (left + side * 0.33, left + side * 0.67):
            draw.ellipse(
                (ex - eye / 2, top + side * 0.3, ex + eye / 2, top + side * 0.3 + eye),
                fill=(0, 0, 0),
            )
        draw.arc(
            (left + side * 0.25, top + side * 0.35, right - side * 0.25, bottom - side * 0.2),
            20,
            160,
            fill=(0, 0, 0),
            width=max(1, side // 16),
        )
    elif shape == "star":
        cx, cy, r = (left + right) / 2, (top + bottom) / 2, side / 2
        points = [
            (
                cx + (r if k % 2 == 0 else r * 0.45) * math.sin(k * math.pi / 5),
                cy - (r if k % 2 == 0 else r * 0.45) * math.cos(k * math.pi / 5),
            )
            for k in range(10)
        ]
        draw.polygon(points, fill=fill)
    elif shape == "heart":
        half = side / 2
        draw.ellipse((left, top, left + half, top + half), fill=fill)
        draw.ellipse((left + half, top, right, top + half), fill=fill)
        draw.polygon(
            [(left, top + half * 0.6), (right, top + half * 0.6), ((left + right) / 2, bottom)],
            fill=fill,
        )
    else:  # a label with a word on it
        draw.rounded_rectangle(box, radius=side // 6, fill=fill)
        _text(
            draw, (left, top + side // 4, right, bottom - side // 4), phrase(rng, 1), contrast(fill)
        )
    return shape


def stickers(img: Image.Image, rng: Rng) -> tuple[Image.Image, str]:
    """One to three stickers (emoji faces, stars, hearts, labels) covering 2-10% in all."""
    out = img.copy()
    width, height = out.size
    count = int(rng.integers(1, 4))
    share = rng.uniform(0.02, 0.10)
    side = max(6, round(math.sqrt(share * width * height / count)))
    side = min(side, width, height)
    draw = ImageDraw.Draw(out)
    shapes = []
    for _ in range(count):
        x, y = int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1))
        shapes.append(_sticker(draw, rng, (x, y, x + side, y + side)))
    return out, f"stickers {'+'.join(shapes)} covering {share:.3f}"


def _background(size: tuple[int, int], rng: Rng) -> tuple[Image.Image, str]:
    width, height = size
    first, second = colour(rng), colour(rng)
    if rng.integers(2) == 0:
        return Image.new("RGB", size, first), f"plain {first}"
    vertical = bool(rng.integers(2))
    steps = np.linspace(0.0, 1.0, height if vertical else width)[:, None]
    line = np.rint(np.array(first) * (1 - steps) + np.array(second) * steps).astype(np.uint8)
    pixels = (
        np.repeat(line[:, None, :], width, axis=1)
        if vertical
        else np.repeat(line[None, :, :], height, axis=0)
    )
    return Image.fromarray(pixels, "RGB"), f"gradient {first}->{second}"


def _chrome(canvas: Image.Image, rng: Rng) -> tuple[int, int, str]:
    """Draws an app's bars on the canvas; returns the content area's top and bottom."""
    width, height = canvas.size
    draw = ImageDraw.Draw(canvas)
    bar = max(24, round(height * rng.uniform(0.03, 0.08)))
    bar_fill = colour(rng)
    draw.rectangle((0, 0, width, bar), fill=bar_fill)
    _text(draw, (bar * 3, 0, width // 2, bar), phrase(rng, 2), contrast(bar_fill))
    for i in range(3):  # window buttons
        x = 8 + i * bar * 0.8
        draw.ellipse((x, bar * 0.3, x + bar * 0.45, bar * 0.75), fill=colour(rng))
    bottom = height
    parts = ["top bar"]
    if rng.integers(2):  # a phone's or a feed's bottom bar with icons
        bottom = height - bar
        draw.rectangle((0, bottom, width, height), fill=bar_fill)
        for i in range(4):
            x = width * (i + 0.5) / 4
            draw.rectangle(
                (x - bar / 4, bottom + bar / 4, x + bar / 4, height - bar / 4),
                fill=contrast(bar_fill),
            )
        parts.append("bottom bar")
    return bar + 1, bottom, "+".join(parts)


def screenshot(img: Image.Image, rng: Rng) -> tuple[Image.Image, str]:
    """The picture covering 5-70% of a screen's area, anywhere on it, on a plain or gradient
    canvas under a title bar (and maybe over a bottom bar), with lines of text beside it."""
    screen = SCREENS[int(rng.integers(len(SCREENS)))]
    canvas, background = _background(screen, rng)
    top, bottom, bars = _chrome(canvas, rng)
    width, height = img.size
    area = rng.uniform(0.05, 0.70) * screen[0] * screen[1]
    scale = min(math.sqrt(area / (width * height)), screen[0] / width, (bottom - top) / height)
    shown = img.resize(
        (max(8, round(width * scale)), max(8, round(height * scale))), Image.Resampling.LANCZOS
    )
    left = int(rng.integers(0, screen[0] - shown.width + 1))
    y = int(rng.integers(top, max(top, bottom - shown.height) + 1))
    canvas.paste(shown, (left, y))
    draw = ImageDraw.Draw(canvas)
    ink = contrast(canvas.getpixel((0, bottom - 1)))  # type: ignore[arg-type]
    line = max(12, screen[1] // 40)
    below, above = bottom - (y + shown.height), y - top
    start = y + shown.height if below >= above else top
    rows = min(int(rng.integers(0, 4)), (max(below, above) - 4) // line)
    for row in range(max(0, rows)):  # lines of text where the picture is not
        ty = start + 2 + row * line
        _text(draw, (4, ty, screen[0] // 2, ty + line), phrase(rng, 4), ink)
    covered = shown.width * shown.height / (screen[0] * screen[1])
    return canvas, f"screenshot {screen[0]}x{screen[1]} covering {covered:.2f} {background} {bars}"
