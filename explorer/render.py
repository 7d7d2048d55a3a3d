# SPDX-License-Identifier: MIT
"""Pictures for the explorer: score maps over images, markers, the iteration strip, a colour
bar and the two small plots. Numpy and Pillow per click (a few ms each); matplotlib only for
the plots that change on recomputation.

Every function takes what :mod:`explorer.pipeline` produced and returns ``uint8 (H, W, 3)``
arrays. Positions come in working-resolution pixels; images are enlarged by an integer
``scale`` (nearest) so that small images are not shown tiny, and markers are drawn after the
enlargement so that they stay sharp.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from explorer.pipeline import FLOW_ERROR_RANGE, Computed, FlowComputed, Probe, ScoreMap
from gocor_lite.matching import cells_to_pixels
from gocor_lite.pictures.flow import colour_wheel

COLOUR_SCALES = ("per map (min to max)", "shared (0 to 1)")
SHARED_RANGE = (0.0, 1.0)
CMAP = "inferno"
CLICK_COLOUR = (0, 229, 255)  # the clicked target cell
TRUTH_COLOUR = (57, 255, 20)  # the true match
BEST_COLOUR = (255, 255, 255)  # each method's best match
WINDOW_COLOUR = (0, 229, 255)  # local search window
CURRENT_COLOUR = (255, 200, 0)  # the iteration the slider selects
MIN_DISPLAY_SIDE = 560  # images are enlarged (integer factor) to at least this longer side


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
) -> np.ndarray:
    """Colour a per-cell score map and blend it over a dimmed grey copy of ``image``.

    Shapes: image ``uint8 (H, W, 3)``, scores ``(h, w)`` (NaN: no score, the image shows
    through) -> ``uint8 (H, W, 3)``.
    """
    low, high = value_range
    normalised = np.clip((scores - low) / (high - low), 0.0, 1.0)
    index = np.where(np.isfinite(normalised), np.round(normalised * 255), -1).astype(np.int16)
    index = _cells_on_image(index, stride, image.shape[:2])  # (H, W), -1: no score
    colours = _lookup_table(CMAP)[np.clip(index, 0, 255)].astype(np.float32)
    weight = np.where(index >= 0, np.float32(alpha), np.float32(0.0))[..., None]
    blended = _dimmed_grey(image) * (1 - weight) + colours * weight
    return (blended + 0.5).astype(np.uint8)


def _cells_on_image(cells: np.ndarray, stride: int, size: tuple[int, int]) -> np.ndarray:
    """Each pixel takes its cell's value (:func:`gocor_lite.matching.cells_to_pixels`); a plain
    repetition when the image is exactly the grid times the stride, as at the working size."""
    height, width = cells.shape
    if (height * stride, width * stride) == tuple(size):
        return np.repeat(np.repeat(cells, stride, axis=0), stride, axis=1)
    return cells_to_pixels(torch.from_numpy(cells), stride, size).numpy()


_GREY: list[tuple[np.ndarray, np.ndarray]] = []  # the last few images and their dimmed grey


def _dimmed_grey(image: np.ndarray) -> np.ndarray:
    """``float32 (H, W, 1)``: the image in grey, dimmed so that colours stand out (cached)."""
    for known, grey in _GREY:
        if known is image:
            return grey
    grey = image.mean(axis=2, keepdims=True, dtype=np.float32) * 0.8 + 25.5
    _GREY.insert(0, (image, grey))
    del _GREY[4:]
    return grey


class _Marks:
    """Markers on an enlarged picture, placed from working-resolution pixel coordinates."""

    def __init__(self, picture: np.ndarray, scale: int):
        self.image = Image.fromarray(picture)
        self.draw = ImageDraw.Draw(self.image)
        self.scale = scale
        self.size = max(6, round(max(picture.shape[:2]) / 60))  # marker radius, display px
        self.width = max(2, self.size // 3)

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

    def array(self) -> np.ndarray:
        """The picture with its markers, title band and caption band."""
        title, caption = getattr(self, "_title", None), getattr(self, "_caption", None)
        if title is None and caption is None:
            return np.asarray(self.image)
        width = self.image.width
        size = max(13, round(width / 20))  # readable when the browser shows it ~300 px wide
        line = size + 6
        top = line + 8 if title is not None else 0
        lines = [] if caption is None else caption.split("\n")
        bottom = len(lines) * line + 8 if lines else 0
        height = top + self.image.height + bottom
        canvas = Image.new("RGB", (width, height), (255, 255, 255))
        canvas.paste(self.image, (0, top))
        draw = ImageDraw.Draw(canvas)
        if title is not None:
            draw.text((6, 4), title, fill=(20, 20, 60), font=_font(round(size * 1.1)))
        if lines:
            draw.rectangle((0, height - bottom, width, height), fill=(30, 30, 30))
            for index, text in enumerate(lines):
                position = (6, height - bottom + 4 + index * line)
                draw.text(position, text, fill=(255, 255, 255), font=_font(size))
        return np.asarray(canvas)


def target_picture(computed: Computed, probe: Probe | None) -> np.ndarray:
    """The target image, enlarged, with the clicked cell marked."""
    image = computed.pair.target
    scale = display_scale(image)
    marks = _Marks(_enlarge(image, scale), scale)
    if probe is not None:
        marks.cell(probe.pixel, computed.stride)
    return marks.array()


def source_picture(computed: Computed, probe: Probe | None) -> np.ndarray:
    """The source image, enlarged, with the true match of the clicked cell where known."""
    image = computed.pair.source
    scale = display_scale(image)
    marks = _Marks(_enlarge(image, scale), scale)
    if probe is not None and probe.true_match is not None:
        marks.truth(probe.true_match)
    return marks.array()


def _caption(item: ScoreMap, colour_scale: str) -> str:
    text = f"peak {item.peak:.2f}"
    if item.error is not None:
        text += f" · error {item.error:.0f} px"
    if colour_scale == COLOUR_SCALES[0]:
        low, high = score_range(item, colour_scale)
        text += f"\ncolours {low:.2f} … {high:.2f}"
    return text


def panel(computed: Computed, probe: Probe, item: ScoreMap, colour_scale: str) -> np.ndarray:
    """One method's map over the source image: best match, true match, search window."""
    image = computed.pair.source
    scale = display_scale(image)
    coloured = overlay(image, item.scores, computed.stride, score_range(item, colour_scale))
    marks = _Marks(_enlarge(coloured, scale), scale)
    if item.window is not None:
        marks.window(item.window)
    if probe.true_match is not None:
        marks.truth(probe.true_match)
    marks.best(item.best)
    marks.caption(_caption(item, colour_scale))
    marks.title(item.name)
    return marks.array()


def strip(computed: Computed, probe: Probe, colour_scale: str) -> np.ndarray:
    """The paper's Fig. 1 for the clicked cell: target-vs-target maps (top row) and
    target-vs-source maps (bottom row) of the plain correlation and GOCor iterations 0..K."""
    tiles_top, tiles_bottom = [], []
    for on_target, on_source in zip(probe.strip_target, probe.strip_source, strict=True):
        top = _Marks(
            overlay(
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
            overlay(
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
    tile_height = max(tile.shape[0] for row in rows for tile in row)
    tile_width = max(tile.shape[1] for row in rows for tile in row)
    size = max(14, tile_width // 14)
    font = _font(size)
    header, left = size + 14, size + 16
    width = left + len(titles) * (tile_width + gap)
    height = header + len(rows) * (tile_height + gap)
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for column, title in enumerate(titles):
        x = left + column * (tile_width + gap)
        colour = (170, 110, 0) if column == highlight else (0, 0, 0)
        draw.text((x + tile_width / 2, header / 2), title, fill=colour, font=font, anchor="mm")
    for row_index, (row, name) in enumerate(zip(rows, row_names, strict=True)):
        y = header + row_index * (tile_height + gap)
        label = Image.new("RGB", (int(tile_height), int(left)), (255, 255, 255))
        ImageDraw.Draw(label).text(
            (tile_height / 2, left / 2), name, fill=(0, 0, 0), font=font, anchor="mm"
        )
        canvas.paste(label.rotate(90, expand=True), (0, y))
        for column, tile in enumerate(row):
            x = left + column * (tile_width + gap)
            canvas.paste(Image.fromarray(tile), (x, y))
            if column == highlight:
                draw.rectangle(
                    (x - 3, y - 3, x + tile.shape[1] + 2, y + tile.shape[0] + 2),
                    outline=CURRENT_COLOUR,
                    width=4,
                )
    return np.asarray(canvas)


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


def plots(computed: Computed) -> Plots:
    """GOCor's losses per iteration and its learned y, v, m, for the global and local module."""
    from gocor_lite.pictures.score_maps import draw_distance_functions, draw_losses

    def figure_image(draw, title: str) -> np.ndarray:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        figure = Figure(figsize=(7.2, 2.9), dpi=90)  # fixed margins: faster than a layout engine
        figure.subplots_adjust(left=0.1, right=0.98, bottom=0.17, top=0.82, wspace=0.3)
        canvas = FigureCanvasAgg(figure)
        axes = figure.subplots(1, 2)
        for axis, trace, name in zip(
            axes,
            (computed.global_trace, computed.local_trace),
            ("global GOCor", "local GOCor"),
            strict=True,
        ):
            draw(trace, axis)
            axis.set_title(name, fontsize=10)
            axis.legend(fontsize=7)
        figure.suptitle(title, fontsize=11)
        canvas.draw()
        return np.asarray(canvas.buffer_rgba())[..., :3].copy()

    return Plots(
        losses=figure_image(draw_losses, "GOCor's objective per iteration"),
        functions=figure_image(
            draw_distance_functions, "learned functions of the distance between target cells"
        ),
    )


# -- the flow view ---------------------------------------------------------------------------------
TILE_WIDTH = 300  # px, each level's pictures in the grid of levels


@dataclass(frozen=True)
class FlowPictures:
    """The flow view's pictures of one :class:`~explorer.pipeline.FlowComputed`."""

    flow: np.ndarray  # the final flow in the colours of the wheel
    legend: np.ndarray  # the colour wheel, with its directions written round it
    warped: np.ndarray  # the source warped onto the target by the final flow
    error: np.ndarray | None  # endpoint error of the final flow, where the truth is known
    levels: np.ndarray  # every level's flow, warped source (and error): one column per level


def flow_pictures(flow: FlowComputed) -> FlowPictures:
    """Pictures of a computed flow, enlarged like the other images, with captions."""
    final = flow.pictures[-1]
    scale = display_scale(flow.pair.target)

    def captioned(picture: np.ndarray, title: str, caption: str | None = None) -> np.ndarray:
        marks = _Marks(_enlarge(picture, scale), scale)
        marks.title(title)
        if caption is not None:
            marks.caption(caption)
        return marks.array()

    error = None
    if final.error is not None and final.mean_error is not None:
        error = captioned(
            final.error,
            "endpoint error",
            f"mean {final.mean_error:.2f} px (dark 0, bright ≥ {FLOW_ERROR_RANGE:g})",
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
        levels=_grid(
            rows, [_level_kind(flow, index) for index in range(len(flow.pictures))], row_names
        ),
    )


def _level_kind(flow: FlowComputed, index: int) -> str:
    level = flow.result.levels[index]
    kind = "global" if level.config.is_global else f"local R={level.config.search_radius}"
    method = " GOCor" if level.config.gocor else ""
    height, width = level.target_frame.grid
    return f"{index}: {kind}{method}, {width}×{height}"


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
    """The colour wheel of :func:`gocor_lite.warp.flow_to_colour` with its directions."""
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
