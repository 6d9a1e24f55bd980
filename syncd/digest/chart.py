"""The trend chart: 4-week recurrence rate (line) and overdue items (bars) per week, as a PNG.

Pillow rather than matplotlib: one ~4.5 MB wheel with no numpy, and an email chart
needs nothing more than lines, bars and text. Drawn at 2x (1200x520) and shown at
600x260, so it stays sharp on phones. Weeks without incidents have no recurrence rate:
the line skips them instead of drawing a misleading 0%.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from PIL import Image, ImageDraw, ImageFont, features

from syncd.digest.model import WeekPoint

WIDTH, HEIGHT = 1200, 560
DISPLAY_WIDTH, DISPLAY_HEIGHT = WIDTH // 2, HEIGHT // 2
LEFT, RIGHT, TOP, BOTTOM = 112, 100, 90, 70
# Sizes in image pixels. On a 400 px phone the chart is shown about 360 px wide (0.3x):
# 32 px text is then ~9.6 px, still legible; 22 px (the old size) was ~6.6 px.
SMALL_TEXT, LABEL_TEXT = 32, 34

INK = (31, 41, 55)
MUTED = (107, 114, 128)
GRID = (229, 231, 235)
BAR = (147, 197, 253)  # overdue items
LINE = (220, 38, 38)  # recurrence rate


def _font(size: int) -> Any:
    # Pillow's bundled scalable font needs FreeType (present in the PyPI wheels); the
    # bitmap fallback keeps the chart readable, if small, on a build without it.
    if features.check("freetype2"):
        return ImageFont.load_default(size=size)
    return ImageFont.load_default()


def _nice_max(value: int) -> int:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000):
        if value <= step * 4:
            return step * 4
    return value


def alt_text(weeks: Sequence[WeekPoint]) -> str:
    """What the chart shows, in words: the email's alt text for readers without images."""
    if not weeks:
        return "No trend data."
    rates = [(w.week, w.rolling_rate) for w in weeks if w.rolling_rate is not None]
    rate_part = (
        f"4-week recurrence rate {rates[0][1]:.0%} in {rates[0][0]},"
        f" {rates[-1][1]:.0%} in {rates[-1][0]}"
        if rates
        else "no incidents, so no recurrence rate"
    )
    return (
        f"Trend over {len(weeks)} weeks ({weeks[0].week} to {weeks[-1].week}): {rate_part}; "
        f"overdue action items {weeks[0].overdue} then {weeks[-1].overdue}"
        f" (peak {max(w.overdue for w in weeks)})."
    )


def render_png(weeks: Sequence[WeekPoint]) -> bytes:
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    small, label = _font(SMALL_TEXT), _font(LABEL_TEXT)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    bottom = TOP + plot_h
    overdue_max = _nice_max(max((w.overdue for w in weeks), default=0))

    # grid and both axes' labels: left = recurrence %, right = overdue count
    for i in range(5):
        y = bottom - plot_h * i / 4
        draw.line([(LEFT, y), (LEFT + plot_w, y)], fill=GRID, width=2)
        draw.text((LEFT - 12, y), f"{25 * i}%", font=small, fill=LINE, anchor="rm")
        draw.text(
            (LEFT + plot_w + 12, y), str(overdue_max * i // 4), font=small, fill=MUTED, anchor="lm"
        )

    n = max(len(weeks), 1)
    slot = plot_w / n
    points: list[tuple[float, float]] = []
    for i, week in enumerate(weeks):
        cx = LEFT + slot * (i + 0.5)
        if week.overdue:
            top = bottom - plot_h * week.overdue / overdue_max
            draw.rectangle([cx - slot * 0.3, top, cx + slot * 0.3, bottom], fill=BAR)
        # "2026-W24" → "W24": the year is in the email text, and 12 labels must fit
        draw.text((cx, bottom + 14), week.week.split("-")[-1], font=small, fill=MUTED, anchor="mt")
        if week.rolling_rate is not None:
            points.append((cx, bottom - plot_h * week.rolling_rate))
    if len(points) > 1:
        draw.line(points, fill=LINE, width=5, joint="curve")
    for x, y in points:
        draw.ellipse([x - 8, y - 8, x + 8, y + 8], fill=LINE, outline="white", width=3)

    # legend: the second entry starts where the first one's text ends
    first = "Recurrence, 4-week rate (left)"
    draw.line([(LEFT, 34), (LEFT + 40, 34)], fill=LINE, width=5)
    draw.ellipse([LEFT + 12, 26, LEFT + 28, 42], fill=LINE, outline="white", width=3)
    draw.text((LEFT + 52, 34), first, font=label, fill=INK, anchor="lm")
    lx = LEFT + 52 + draw.textlength(first, font=label) + 40
    draw.rectangle([lx, 22, lx + 36, 46], fill=BAR)
    draw.text((lx + 48, 34), "Overdue (right)", font=label, fill=INK, anchor="lm")

    out = io.BytesIO()
    # optimize: a flat-colour chart compresses to a few tens of KB
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
