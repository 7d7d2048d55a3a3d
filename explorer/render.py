# SPDX-License-Identifier: MIT
"""Pictures for the explorer: score maps over images, markers, the iteration strip, a colour
bar and the two small plots. Numpy and Pillow per click (a few ms each); matplotlib only for
the plots that change on recomputation.

Every function takes what :mod:`explorer.pipeline` produced and returns ``uint8 (H, W, 3)``
arrays. Positions come in working-resolution pixels; images are enlarged by an integer
``scale`` (nearest) so that small images are not shown tiny, and markers are drawn after the
enlargement so that they stay sharp. A score map is coloured per cell and blended over a dimmed
grey copy of its image that is prepared once per image (:func:`overlay`), and fixed texts
(titles, row names) are rendered once: a click redraws its seven pictures in a few tens of ms.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from explorer.network_compute import NetworkComputed
from explorer.pipeline import (
    FLOW_ERROR_RANGE,
    Arithmetic,
    Computed,
    Probe,
    ScoreMap,
    WorkingPair,
)
from gocor_lite.pictures import marks
from gocor_lite.pictures.arithmetic import score_terms
from gocor_lite.pictures.flow_colours import ERROR_COLORMAP, UNKNOWN_COLOUR, colour_wheel
from gocor_lite.reading.matching import cells_to_pixels

COLOUR_SCALES = ("per map (min to max)", "shared (0 to 1)")
SHARED_RANGE = (0.0, 1.0)
CMAP = "inferno"
# The course's one notation (gocor_lite.pictures.marks), drawn here with PIL.
CLICK_COLOUR = marks.TARGET.rgb  # the clicked target cell
TRUTH_COLOUR = marks.TRUTH.rgb  # the true match
BEST_COLOUR = marks.BEST.rgb  # each method's best match
WINDOW_COLOUR = marks.WINDOW.rgb  # local search window
CURRENT_COLOUR = (255, 200, 0)  # the iteration the slider selects
MIN_DISPLAY_SIDE = 560  # images are enlarged (integer factor) to at least this longer side
PANEL_SIDE = 320  # the score maps, four in a row, to at least this (sharp at their shown size)


def panel_scale(image: np.ndarray) -> int:
    """The integer enlargement of the four score maps: at least ``PANEL_SIDE`` on the longer
    side, about what the page shows of each (four in a row)."""
    return max(1, math.ceil(PANEL_SIDE / max(image.shape[:2])))


def display_scale(image: np.ndarray) -> int:
    """The integer enlargement used for an image: at least ``MIN_DISPLAY_SIDE`` on its longer
    side. A click at displayed pixel ``u`` is at working pixel ``u // scale``."""
    return max(1, math.ceil(MIN_DISPLAY_SIDE / max(image.shape[:2])))


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    from matplotlib import font_manager

    try:
        return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)
    except OSError:
        return ImageFont.load_default()


@cache
def _lookup_table(cmap: str) -> np.ndarray:
    from matplotlib import colormaps

    return np.round(colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)


def _enlarge(image: np.ndarray, scale: int) -> np.ndarray:
    if scale == 1:
        return image
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def _to_display(point: tuple[float, float], scale: int) -> tuple[float, float]:
    """Working pixel (centre at integers) -> displayed pixel after enlarging by ``scale``."""
    return ((point[0] + 0.5) * scale - 0.5, (point[1] + 0.5) * scale - 0.5)


def score_range(item: ScoreMap, colour_scale: str) -> tuple[float, float]:
    """The values mapped to the darkest and the brightest colour."""
    if colour_scale != COLOUR_SCALES[0]:
        return SHARED_RANGE
    finite = item.scores[np.isfinite(item.scores)]
    if finite.size == 0:
        return SHARED_RANGE
    low, high = float(finite.min()), float(finite.max())
    return (low, high if high > low else low + 1e-6)


def overlay(
    image: np.ndarray,
    scores: np.ndarray,
    stride: int,
    value_range: tuple[float, float],
    alpha: float = 0.65,
    scale: int = 1,
    cmap: str = CMAP,
) -> np.ndarray:
    """Colour a per-cell score map (matplotlib colormap ``cmap``) and blend it over a dimmed
    grey copy of ``image``, enlarged ``scale`` times (nearest).

    Shapes: image ``uint8 (H, W, 3)``, scores ``(h, w)`` (NaN: no score, the image shows
    through) -> ``uint8 (H * scale, W * scale, 3)``.
    """
    return np.asarray(_overlay_image(image, scores, stride, value_range, alpha, scale, cmap))


def _overlay_image(
    image: np.ndarray,
    scores: np.ndarray,
    stride: int,
    value_range: tuple[float, float],
    alpha: float = 0.65,
    scale: int = 1,
    cmap: str = CMAP,
) -> Image.Image:
    """:func:`overlay` as a new Pillow image (markers are drawn on it next)."""
    low, high = value_range
    finite = np.isfinite(scores)
    normalised = np.clip((np.where(finite, scores, low) - low) / (high - low), 0.0, 1.0)
    colours = _lookup_table(cmap)[np.round(normalised * 255).astype(np.intp)]  # (h, w, 3)
    base = _grey_image(image, scale)
    size = base.size  # (W, H)
    height, width = scores.shape
    if (width * stride * scale, height * stride * scale) == size:
        # At the working size each cell is a block: Pillow's nearest resize is the same map.
        colour = Image.fromarray(colours).resize(size, Image.Resampling.NEAREST)
        mask = None if finite.all() else Image.fromarray(finite.astype(np.uint8) * 255)
        mask = None if mask is None else mask.resize(size, Image.Resampling.NEAREST)
    else:  # pixel (x, y) reads cell floor((x + 0.5) / stride), clamped: gocor_lite.reading.matching
        index = cells_to_pixels(
            torch.arange(height * width).reshape(height, width), stride, image.shape[:2]
        ).numpy()
        index = _enlarge(index[..., None], scale)[..., 0]
        colour = Image.fromarray(colours.reshape(-1, 3)[index])
        mask = (
            None
            if finite.all()
            else Image.fromarray(finite.reshape(-1)[index].astype(np.uint8) * 255)
        )
    blended = Image.blend(base, colour, alpha)
    return blended if mask is None else Image.composite(blended, base, mask)


_MADE: list[tuple[np.ndarray, str, int, Image.Image]] = []  # the last few images' versions
_MADE_LOCK = threading.Lock()


def _made_once(image: np.ndarray, kind: str, scale: int, make: Callable[[], Image.Image]):
    """A version of an image made once (the last few are kept): never drawn on, copy it."""
    with _MADE_LOCK:
        for known, known_kind, known_scale, made in _MADE:
            if known is image and (known_kind, known_scale) == (kind, scale):
                return made
    made = make()
    with _MADE_LOCK:
        _MADE.insert(0, (image, kind, scale, made))
        del _MADE[24:]
    return made


def _grey_image(image: np.ndarray, scale: int) -> Image.Image:
    """The image in grey, dimmed so that colours stand out, enlarged ``scale`` times."""

    def make() -> Image.Image:
        levels = image.mean(axis=2, dtype=np.float32) * 0.8 + 25.5  # dimmed
        return Image.fromarray(_enlarge(np.round(levels).astype(np.uint8), scale)).convert("RGB")

    return _made_once(image, "grey", scale, make)


def _enlarged(image: np.ndarray, scale: int) -> Image.Image:
    """The image enlarged ``scale`` times (nearest)."""
    return _made_once(image, "enlarged", scale, lambda: Image.fromarray(_enlarge(image, scale)))


class _Marks:
    """Markers on an enlarged picture, placed from working-resolution pixel coordinates, and
    an optional title band above it and caption band below it."""

    def __init__(self, picture: np.ndarray | Image.Image, scale: int):
        self.image = picture if isinstance(picture, Image.Image) else Image.fromarray(picture)
        self.draw = ImageDraw.Draw(self.image)
        self.scale = scale
        self.size = max(6, round(max(self.image.size) / 60))  # marker radius, display px
        self.width = max(2, self.size // 3)
        self._title: str | None = None
        self._caption: str | None = None

    def cell(self, centre: tuple[float, float], stride: int, colour=CLICK_COLOUR) -> None:
        x, y = _to_display(centre, self.scale)
        half = stride * self.scale / 2
        radius = max(half, self.size)
        self.draw.rectangle(
            (x - radius, y - radius, x + radius, y + radius),
            outline=(0, 0, 0),
            width=self.width + 2,
        )
        self.draw.rectangle(
            (x - radius, y - radius, x + radius, y + radius), outline=colour, width=self.width
        )
        for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            self.draw.line(
                (
                    x + dx * radius,
                    y + dy * radius,
                    x + dx * (radius + 2 * self.size),
                    y + dy * (radius + 2 * self.size),
                ),
                fill=colour,
                width=self.width,
            )

    def best(self, point: tuple[float, float]) -> None:
        x, y = _to_display(point, self.scale)
        size = self.size * 1.4
        for colour, width in (((0, 0, 0), self.width + 3), (BEST_COLOUR, self.width)):
            self.draw.line((x - size, y, x + size, y), fill=colour, width=width)
            self.draw.line((x, y - size, x, y + size), fill=colour, width=width)

    def estimate(self, point: tuple[float, float]) -> None:
        """A match between cells (a flow's, a soft-argmax's): a diamond outlined in black."""
        x, y = _to_display(point, self.scale)
        size = self.size * 1.3
        corners = [(x, y - size), (x + size, y), (x, y + size), (x - size, y)]
        self.draw.polygon(corners, outline=(0, 0, 0), width=self.width + 2)
        self.draw.polygon(corners, outline=marks.FLOW.rgb, width=self.width)

    def truth(self, point: tuple[float, float]) -> None:
        x, y = _to_display(point, self.scale)
        size = self.size * 1.6
        self.draw.ellipse(
            (x - size, y - size, x + size, y + size), outline=(0, 0, 0), width=self.width + 2
        )
        self.draw.ellipse(
            (x - size, y - size, x + size, y + size), outline=TRUTH_COLOUR, width=self.width
        )

    def window(self, box: tuple[float, float, float, float]) -> None:
        x0, y0 = _to_display((box[0], box[1]), self.scale)
        x1, y1 = _to_display((box[2], box[3]), self.scale)
        self.draw.rectangle((x0, y0, x1, y1), outline=WINDOW_COLOUR, width=self.width)

    def caption(self, text: str) -> None:
        """Lines of text on a dark band added below the picture."""
        self._caption = text

    def title(self, text: str) -> None:
        """A line of text on a white band added above the picture."""
        self._title = text

    def array(self, below: np.ndarray | None = None) -> np.ndarray:
        """The picture with its markers, title band and caption band (and ``below``, a band
        of the same width under everything)."""
        picture = np.asarray(self.image)
        if self._title is None and self._caption is None and below is None:
            return picture
        width = picture.shape[1]
        size = max(13, round(width / 20))  # readable when the browser shows it ~300 px wide
        bands = []
        if self._title is not None:
            bands.append(_title_band(self._title, width, size))
        bands.append(picture)
        if self._caption is not None:
            bands.append(_caption_band(self._caption, width, size))
        if below is not None:
            bands.append(below)
        return np.concatenate(bands, axis=0)


Marks = _Marks  # for the other drawing modules of the explorer (explorer.rules_render)


TITLE_COLOUR = np.array((20, 20, 60), np.uint16)


@lru_cache(maxsize=256)
def _title_band(text: str, width: int, size: int) -> np.ndarray:
    """Dark text on white, ``uint8 (lines x (size + 7) + 7, width, 3)``: wrapped at spaces into
    as many lines as it needs to fit ``width`` (never cut at the edge), drawn from cached
    glyphs (:func:`_text_mask`: titles change with every click; cached too, for those that
    repeat)."""
    font_size = round(size * 1.1)
    return _text_band(
        _wrapped(text, font_size, width - 12), width, font_size, size + 7, 7, 255, TITLE_COLOUR
    )


def _text_width(text: str, size: int) -> float:
    """The advance of ``text`` in the font of ``size`` px, from cached glyphs."""
    return sum(_glyph(character, size)[1] for character in text)


def _wrapped(text: str, size: int, width: int) -> list[str]:
    """``text`` in lines no longer than ``width`` px in the font of ``size`` px (a single word
    longer than that is a line of its own)."""
    if _text_width(text, size) <= width:
        return [text]
    lines: list[str] = []
    for word in text.split(" "):
        if lines and _text_width(lines[-1] + " " + word, size) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def _caption_band(text: str, width: int, size: int) -> np.ndarray:
    """Lines of white text on a dark band, ``uint8 (lines x (size + 6) + 8, width, 3)``."""
    return _text_band(text.split("\n"), width, size, size + 6, 8, 30, 255)


def _text_band(
    lines: list[str],
    width: int,
    font_size: int,
    line: int,
    padding: int,
    paper: int,
    ink: int | np.ndarray,
) -> np.ndarray:
    """``lines`` of ``ink`` on ``paper`` (grey levels or RGB), one every ``line`` px from 4 px
    down, 6 px from the left: ``uint8 (len(lines) x line + padding, width, 3)``."""
    band = np.full((len(lines) * line + padding, width, 3), paper, np.uint8)
    for index, words in enumerate(lines):
        mask = _text_mask(words, font_size)[:, : width - 6]
        top = 4 + index * line
        region = band[top : top + mask.shape[0], 6 : 6 + mask.shape[1]]
        mask = mask[: region.shape[0], : region.shape[1], None].astype(np.uint16)
        region[:] = (paper * (255 - mask) + ink * mask) // 255
    return band


def _text_mask(text: str, size: int) -> np.ndarray:
    """``uint8 (h, w)`` coverage of ``text`` in the font of ``size`` px, put together from
    glyphs rendered once each (a caption changes on every click; Pillow's text layout costs
    about a millisecond per call, a lookup of cached glyphs far less)."""
    glyphs = [_glyph(character, size) for character in text]
    height = glyphs[0][0].shape[0] if glyphs else size
    width = int(sum(advance for _, advance in glyphs)) + size
    mask = np.zeros((height, width), np.uint8)
    x = 0.0
    for glyph, advance in glyphs:
        left = round(x)
        span = mask[:, left : left + glyph.shape[1]]
        np.maximum(span, glyph[:, : span.shape[1]], out=span)
        x += advance
    return mask[:, : round(x) + 1]


@lru_cache(maxsize=2048)
def _glyph(character: str, size: int) -> tuple[np.ndarray, float]:
    """One character's coverage (drawn at its advance's origin) and its advance, in px."""
    font = _font(size)
    ascent, descent = font.getmetrics() if hasattr(font, "getmetrics") else (size, size // 4)
    advance = float(font.getlength(character))
    canvas = Image.new("L", (int(advance) + size, ascent + descent), 0)
    ImageDraw.Draw(canvas).text((0, 0), character, fill=255, font=font)
    return np.asarray(canvas), advance


def target_picture(working: WorkingPair, cell: tuple[int, int] | None) -> np.ndarray:
    """The target image, enlarged, with the clicked cell marked."""
    image = working.pair.target
    scale = display_scale(image)
    marks = _Marks(_enlarged(image, scale).copy(), scale)
    if cell is not None:
        marks.cell(working.centre(cell), working.stride)
    return marks.array()


def source_picture(working: WorkingPair, truth: tuple[float, float] | None) -> np.ndarray:
    """The source image, enlarged, with the true match of the clicked cell where known."""
    image = working.pair.source
    scale = display_scale(image)
    marks = _Marks(_enlarged(image, scale).copy(), scale)
    if truth is not None:
        marks.truth(truth)
    return marks.array()


def _caption(item: ScoreMap, colour_scale: str) -> str:
    text = f"peak {item.peak:.2f}"
    if item.error is not None:
        text += f" · error {item.error:.0f} px"
    if colour_scale == COLOUR_SCALES[0]:
        low, high = score_range(item, colour_scale)
        text += f"\ncolours {low:.2f} … {high:.2f}"
    return text


def panel(
    computed: Computed,
    probe: Probe,
    item: ScoreMap,
    colour_scale: str,
    caption: str | None = None,
    scale: int | None = None,
    estimate: bool = False,
) -> np.ndarray:
    """One method's map over the source image: best match (``estimate``: a match between
    cells, drawn as the notation's diamond), true match, search window; the caption (default:
    peak, error, colour range) below it, enlarged ``scale`` times (default:
    :func:`panel_scale`)."""
    image = computed.pair.source
    scale = panel_scale(image) if scale is None else scale
    coloured = _overlay_image(
        image, item.scores, computed.stride, score_range(item, colour_scale), scale=scale
    )
    marks = _Marks(coloured, scale)
    if item.window is not None:
        marks.window(item.window)
    if probe.true_match is not None:
        marks.truth(probe.true_match)
    (marks.estimate if estimate else marks.best)(item.best)
    marks.caption(_caption(item, colour_scale) if caption is None else caption)
    marks.title(item.name)
    return marks.array()


def strip(computed: Computed, probe: Probe, colour_scale: str) -> np.ndarray:
    """The paper's Fig. 1 for the clicked cell: target-vs-target maps (top row) and
    target-vs-source maps (bottom row) of the plain correlation and GOCor iterations 0..K."""
    tiles_top, tiles_bottom = [], []
    for on_target, on_source in zip(probe.strip_target, probe.strip_source, strict=True):
        top = _Marks(
            _overlay_image(
                computed.pair.target,
                on_target.scores,
                computed.stride,
                score_range(on_target, colour_scale),
            ),
            1,
        )
        top.cell(probe.pixel, computed.stride)
        top.best(on_target.best)
        top.caption(f"peak {on_target.peak:.2f}")
        bottom = _Marks(
            _overlay_image(
                computed.pair.source,
                on_source.scores,
                computed.stride,
                score_range(on_source, colour_scale),
            ),
            1,
        )
        if probe.true_match is not None:
            bottom.truth(probe.true_match)
        bottom.best(on_source.best)
        bottom.caption(
            f"peak {on_source.peak:.2f}"
            + ("" if on_source.error is None else f" · err {on_source.error:.0f} px")
        )
        tiles_top.append(top.array())
        tiles_bottom.append(bottom.array())
    titles = ["correlation"] + [f"GOCor iter. {k}" for k in range(len(tiles_top) - 1)]
    return _grid(
        [tiles_top, tiles_bottom],
        titles,
        ["target vs target", "target vs source"],
        highlight=probe.iteration + 1,
    )


def _grid(
    rows: list[list[np.ndarray]],
    titles: list[str],
    row_names: list[str],
    highlight: int | None = None,
    gap: int = 6,
) -> np.ndarray:
    """Tiles in rows under a header of column titles, with a row name turned sideways left of
    each row; column ``highlight`` framed. Titles too long for a column get a smaller font."""
    tile_height = max(tile.shape[0] for row in rows for tile in row)
    tile_width = max(tile.shape[1] for row in rows for tile in row)
    header = _header(tuple(titles), tile_width, gap, highlight)
    size = max(14, tile_width // 14)  # the header's font size; row names use it too
    left = _row_label(row_names[0], tile_height, size).shape[1]
    height = header.shape[0] + len(rows) * (tile_height + gap)
    canvas = np.full((height, left + header.shape[1], 3), 255, np.uint8)
    canvas[: header.shape[0], left:] = header
    for row_index, (row, name) in enumerate(zip(rows, row_names, strict=True)):
        y = header.shape[0] + row_index * (tile_height + gap)
        label = _row_label(name, tile_height, size)
        canvas[y : y + label.shape[0], : label.shape[1]] = label
        for column, tile in enumerate(row):
            x = left + column * (tile_width + gap)
            canvas[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
            if column == highlight:
                _frame(canvas, (x - 3, y - 3, x + tile.shape[1] + 2, y + tile.shape[0] + 2), 4)
    return canvas


def _frame(canvas: np.ndarray, box: tuple[int, int, int, int], width: int) -> None:
    """Paint a frame of ``width`` px inside ``box = (x0, y0, x1, y1)`` (inclusive, as Pillow's
    rectangles) in the colour of the current iteration."""
    x0, y0, x1, y1 = box
    colour = np.asarray(CURRENT_COLOUR, np.uint8)
    canvas[y0 : y0 + width, x0 : x1 + 1] = colour
    canvas[y1 - width + 1 : y1 + 1, x0 : x1 + 1] = colour
    canvas[y0 : y1 + 1, x0 : x0 + width] = colour
    canvas[y0 : y1 + 1, x1 - width + 1 : x1 + 1] = colour


def _fitting_font(
    texts: tuple[str, ...], width: int, size: int
) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The font of ``size`` px, or smaller until every text fits ``width`` px."""
    while size > 9:
        font = _font(size)
        if all(font.getlength(text) <= width for text in texts):
            return font
        size -= 1
    return _font(size)


@lru_cache(maxsize=64)
def _header(
    titles: tuple[str, ...], tile_width: int, gap: int, highlight: int | None
) -> np.ndarray:
    """The column titles of :func:`_grid`, centred over their columns (cached)."""
    size = max(14, tile_width // 14)
    font = _fitting_font(titles, tile_width - 8, size)
    height = size + 14
    band = Image.new("RGB", (len(titles) * (tile_width + gap), height), (255, 255, 255))
    draw = ImageDraw.Draw(band)
    for column, title in enumerate(titles):
        x = column * (tile_width + gap) + tile_width / 2
        colour = (170, 110, 0) if column == highlight else (0, 0, 0)
        draw.text((x, height / 2), title, fill=colour, font=font, anchor="mm")
    return np.asarray(band)


@lru_cache(maxsize=64)
def _row_label(name: str, height: int, size: int) -> np.ndarray:
    """A row name of :func:`_grid`, turned to read upwards (cached)."""
    font = _fitting_font((name,), height - 8, size)
    left = size + 16
    label = Image.new("RGB", (int(height), int(left)), (255, 255, 255))
    ImageDraw.Draw(label).text((height / 2, left / 2), name, fill=(0, 0, 0), font=font, anchor="mm")
    return np.asarray(label.rotate(90, expand=True))


def colour_bar(colour_scale: str, width: int = 640, height: int = 64) -> np.ndarray:
    """A horizontal colour bar with its scale and a legend of the markers."""
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    bar = _lookup_table(CMAP)[np.linspace(0, 255, width - 40).astype(int)]  # (W, 3)
    canvas.paste(Image.fromarray(np.repeat(bar[None], 22, axis=0)), (20, 6))
    font = _font(15)
    if colour_scale == COLOUR_SCALES[0]:
        left, right = "each map's lowest score", "each map's highest score"
    else:
        left, right = f"{SHARED_RANGE[0]:g} (or less)", f"{SHARED_RANGE[1]:g} (or more)"
    draw.text((20, 34), left, fill=(0, 0, 0), font=font)
    draw.text((width - 20, 34), right, fill=(0, 0, 0), font=font, anchor="ra")
    if colour_scale != COLOUR_SCALES[0]:
        draw.text(
            (width / 2, 34), f"{sum(SHARED_RANGE) / 2:g}", fill=(0, 0, 0), font=font, anchor="ma"
        )
    return np.asarray(canvas)


@dataclass(frozen=True)
class Plots:
    """The two plots that change only when the volumes are recomputed."""

    losses: np.ndarray
    functions: np.ndarray


def plot_figure(computed: Computed, draw: Callable[..., None], title: str) -> Any:
    """A matplotlib figure of ``draw(trace, axis)`` for the global and the local module, side
    by side: fixed margins (faster than a layout engine) wide enough that no axis label meets
    the tick labels beside it, and plain tick numbers (``200``, not ``2×10^2``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FormatStrFormatter, NullFormatter

    figure = Figure(figsize=(7.2, 2.9), dpi=90)
    figure.subplots_adjust(left=0.11, right=0.98, bottom=0.17, top=0.82, wspace=0.38)
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 2)
    for axis, trace, name in zip(
        axes,
        (computed.global_trace, computed.local_trace),
        ("global GOCor", "local GOCor"),
        strict=True,
    ):
        draw(trace, axis)
        if axis.get_yscale() == "log":
            axis.yaxis.set_major_formatter(FormatStrFormatter("%g"))
            axis.yaxis.set_minor_formatter(NullFormatter())
        axis.tick_params(labelsize=8)
        axis.set_title(name, fontsize=10)
        axis.legend(fontsize=7)
    figure.suptitle(title, fontsize=11)
    return figure


def plots(computed: Computed) -> Plots:
    """GOCor's losses per iteration and its learned y, v, m, for the global and local module."""
    from gocor_lite.pictures.score_maps import draw_distance_functions, draw_losses

    def figure_image(draw: Callable[..., None], title: str) -> np.ndarray:
        figure = plot_figure(computed, draw, title)
        figure.canvas.draw()
        return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()

    return Plots(
        losses=figure_image(draw_losses, "GOCor's objective per iteration"),
        functions=figure_image(
            draw_distance_functions, "learned functions of the distance between target cells"
        ),
    )


ARITHMETIC_WIDTH = 960  # px: the arithmetic of one score
FEATURE_COLOUR, FILTER_COLOUR, PRODUCT_COLOUR = (150, 150, 150), (255, 140, 0), (31, 119, 180)


def arithmetic_picture(item: Arithmetic) -> np.ndarray:
    """The arithmetic of the probed cell's scores, drawn with PIL (a click draws it: a few
    milliseconds, where matplotlib took hundreds). A first row: the cell's feature ``f_i``
    (grey bars) and GOCor's filter ``w_i`` (orange dots) channel by channel; then per source
    cell that matters, the terms ``f_i[c] f'_j[c]`` (blue bars) and ``w_i[c] f'_j[c]`` (orange
    dots) with both sums, which are the two volumes' scores. Channels are ordered by
    ``|f_i[c]|``, largest first; each row has its own symmetric vertical scale."""
    order = np.argsort(-np.abs(item.feature), kind="stable")
    rows = [
        (
            f"the clicked cell {item.cell}: its feature f_i (|f_i| = "
            f"{np.linalg.norm(item.feature):.2f}) and GOCor's filter w_i at iteration "
            f"{item.iteration} (|w_i| = {np.linalg.norm(item.gocor_filter):.2f}, "
            f"cos = {_cosine(item.feature, item.gocor_filter):.2f})",
            item.feature[order],
            item.gocor_filter[order],
            FEATURE_COLOUR,
        )
    ]
    for title, source in item.sources.items():
        terms = score_terms(item.feature, item.gocor_filter, source)
        rows.append(
            (
                f"{title}: correlation Σ f_i f'_j = {terms.correlation:.3f}, "
                f"GOCor Σ w_i f'_j = {terms.gocor:.3f}",
                terms.correlation_terms[order],
                terms.gocor_terms[order],
                PRODUCT_COLOUR,
            )
        )
    bands = [_arithmetic_row(*row) for row in rows]
    bands.append(
        _title_band(
            "bars: f_i[c] (grey), f_i[c] f'_j[c] (blue); orange dots: w_i[c], w_i[c] f'_j[c]; "
            "channels c ordered by |f_i[c]|, largest first",
            ARITHMETIC_WIDTH,
            13,
        )
    )
    return np.concatenate(bands, axis=0)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b) / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12)


def _arithmetic_row(
    title: str, bars: np.ndarray, dots: np.ndarray, colour: tuple[int, int, int]
) -> np.ndarray:
    """One row: a title, then ``bars`` and ``dots`` (``(C,)`` each) over a zero line."""
    height, left, right = 120, 58, 10
    canvas = Image.new("RGB", (ARITHMETIC_WIDTH, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    limit = float(max(np.abs(bars).max(), np.abs(dots).max(), 1e-9))
    middle, half = height / 2, height / 2 - 8
    step = (ARITHMETIC_WIDTH - left - right) / len(bars)
    font = _font(11)
    for value in (limit, -limit):
        y = middle - value / limit * half
        draw.line((left - 4, y, ARITHMETIC_WIDTH - right, y), fill=(230, 230, 230))
        draw.text((2, y - 7), f"{value:+.3f}", fill=(90, 90, 90), font=font)
    draw.line((left, middle, ARITHMETIC_WIDTH - right, middle), fill=(60, 60, 60))
    for index, (bar, dot) in enumerate(zip(bars, dots, strict=True)):
        x0 = left + index * step + 1
        y = middle - float(bar) / limit * half
        draw.rectangle((x0, min(y, middle), x0 + step - 2, max(y, middle)), fill=colour)
        cx, cy = x0 + step / 2 - 1, middle - float(dot) / limit * half
        draw.ellipse((cx - 3, cy - 3, cx + 3, cy + 3), fill=FILTER_COLOUR)
    return np.concatenate([_title_band(title, ARITHMETIC_WIDTH, 13), np.asarray(canvas)], axis=0)


# -- the network view's flow pictures ---------------------------------------------------------
TILE_WIDTH = 300  # px, each level's pictures in the grid of levels


@dataclass(frozen=True)
class FlowPictures:
    """The network view's flow pictures of one
    :class:`~explorer.network_compute.NetworkComputed`."""

    flow: np.ndarray  # the final flow in the colours of the wheel
    legend: np.ndarray  # the colour wheel, with its directions written round it
    warped: np.ndarray  # the source warped onto the target by the final flow
    error: np.ndarray  # endpoint error of the final flow (all "unknown" without ground truth)
    levels: np.ndarray  # every level's flow, warped source (and error): one column per level


def flow_pictures(flow: NetworkComputed) -> FlowPictures:
    """Pictures of a computed flow, enlarged like the other images, with captions."""
    final = flow.pictures[-1]
    scale = display_scale(flow.pair.target)

    def captioned(
        picture: np.ndarray, title: str, caption: str | None = None, legend: bool = False
    ) -> np.ndarray:
        marks = _Marks(_enlarge(picture, scale), scale)
        marks.title(title)
        if caption is not None:
            marks.caption(caption)
        width = picture.shape[1] * scale
        return marks.array(below=error_legend(width) if legend else None)

    if final.error is not None and final.mean_error is not None:
        error = captioned(
            final.error, "endpoint error", f"mean {final.mean_error:.2f} px", legend=True
        )
    else:  # an error map whose every pixel is unknown, in the colour the legend gives it
        unknown = np.empty_like(final.flow)
        unknown[:] = UNKNOWN_COLOUR
        error = captioned(
            unknown, "endpoint error", "no ground truth for this pair:\nthe error is unknown", True
        )
    rows = [[_fit(item.flow, TILE_WIDTH) for item in flow.pictures]]
    rows.append([_fit(item.warped_source, TILE_WIDTH) for item in flow.pictures])
    row_names = ["flow", "warped source"]
    if final.error is not None:
        rows.append(
            [_error_tile(item.error, item.mean_error, TILE_WIDTH) for item in flow.pictures]
        )
        row_names.append("error")
    return FlowPictures(
        flow=captioned(final.flow, "flow (see the wheel)"),
        legend=flow_legend(),
        warped=captioned(final.warped_source, "source warped onto the target"),
        error=error,
        levels=_grid(rows, flow.level_titles, row_names),
    )


@lru_cache(maxsize=8)
def error_legend(width: int) -> np.ndarray:
    """A white band: the error colours from 0 to :data:`FLOW_ERROR_RANGE` px and a swatch of
    the colour of unknown ground truth, ``uint8 (h, width, 3)``."""
    size = max(13, round(width / 24))
    height = 2 * size + 22
    band = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(band)
    font = _font(size)
    swatch_text = "unknown truth"
    swatch = size + 8 + int(font.getlength(swatch_text))
    ramp_width = max(40, width - swatch - 40)
    ramp = _lookup_table(ERROR_COLORMAP)[np.linspace(0, 255, ramp_width).astype(int)]
    band.paste(Image.fromarray(np.repeat(ramp[None], size, axis=0)), (8, 6))
    draw.text((8, size + 10), "0 px", fill=(0, 0, 0), font=font)
    draw.text(
        (8 + ramp_width, size + 10),
        f"≥ {FLOW_ERROR_RANGE:g} px",
        fill=(0, 0, 0),
        font=font,
        anchor="ra",
    )
    x = width - swatch - 8
    draw.rectangle((x, 6, x + size, 6 + size), fill=UNKNOWN_COLOUR, outline=(0, 0, 0))
    draw.text((x + size + 6, 6), swatch_text, fill=(0, 0, 0), font=font)
    return np.asarray(band)


def _fit(picture: np.ndarray, width: int) -> np.ndarray:
    """Resized (nearest when enlarging, so that cells stay visible) to ``width`` px wide."""
    height = max(1, round(picture.shape[0] * width / picture.shape[1]))
    image = Image.fromarray(picture)
    shrinking = width < picture.shape[1]
    return np.asarray(
        image.resize(
            (width, height), Image.Resampling.BILINEAR if shrinking else Image.Resampling.NEAREST
        )
    )


def _error_tile(picture: np.ndarray | None, mean_error: float | None, width: int) -> np.ndarray:
    assert picture is not None and mean_error is not None
    marks = _Marks(_fit(picture, width), 1)
    marks.caption(f"average {mean_error:.2f} px")
    return marks.array()


@cache
def flow_legend(size: int = 161) -> np.ndarray:
    """The colour wheel of :func:`gocor_lite.core.warp.flow_to_colour` with its directions."""
    margin = 44
    canvas = Image.new("RGB", (size + 2 * margin, size + 2 * margin), (255, 255, 255))
    canvas.paste(Image.fromarray(colour_wheel(size)), (margin, margin))
    draw = ImageDraw.Draw(canvas)
    font = _font(14)
    middle = margin + size / 2
    end = size + 2 * margin
    draw.text((middle, margin / 2), "up (−y)", fill=(0, 0, 0), font=font, anchor="mm")
    draw.text((middle, end - margin / 2), "down (+y)", fill=(0, 0, 0), font=font, anchor="mm")
    draw.text((4, middle), "left", fill=(0, 0, 0), font=font, anchor="lm")
    draw.text((end - 4, middle), "right", fill=(0, 0, 0), font=font, anchor="rm")
    return np.asarray(canvas)
