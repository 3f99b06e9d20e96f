"""Procedural textures, a day and a season variant of each surface: multi-scale noise, facades with windows, ground."""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import cv2
import numpy as np


def noise(rng: np.random.Generator, shape: tuple[int, int], cell: float) -> np.ndarray:
    """Smooth noise of about unit variance whose blobs are about `cell` texels wide."""
    h, w = shape
    cell = max(float(cell), 1.0)
    gh, gw = int(np.ceil(h / cell)) + 3, int(np.ceil(w / cell)) + 3
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    up = cv2.resize(grid, (int(round(gw * cell)), int(round(gh * cell))), interpolation=cv2.INTER_CUBIC)
    return up[:h, :w]


def fbm(rng: np.random.Generator, shape: tuple[int, int], cells: tuple[float, ...], gain: float = 0.7) -> np.ndarray:
    """Sum of noise octaves, coarse to fine, each `gain` times weaker than the previous one."""
    total = np.zeros(shape, np.float32)
    for octave, cell in enumerate(cells):
        total += gain**octave * noise(rng, shape, cell)
    return total / np.sqrt(sum(gain ** (2 * o) for o in range(len(cells))))


def hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, float(np.clip(s, 0, 1)), float(np.clip(v, 0, 1))), np.float32)


def _grid(shape: tuple[int, int], density: float) -> tuple[np.ndarray, np.ndarray]:
    """Texel-centre coordinates in metres: u along columns, v along rows."""
    h, w = shape
    return np.meshgrid(
        (np.arange(w, dtype=np.float32) + 0.5) / density, (np.arange(h, dtype=np.float32) + 0.5) / density
    )


def _paint_decals(
    rng: np.random.Generator,
    image: np.ndarray,
    density: float,
    count: int,
    v_range: tuple[float, float],
    sizes: tuple[float, float] = (0.25, 1.4),
) -> None:
    """Posters and graffiti: ellipses and rectangles of random colour, each filled with its own noise."""
    h, w = image.shape[:2]
    for _ in range(count):
        size = rng.uniform(*sizes, 2) * density
        cu, cv = rng.uniform(0, w), rng.uniform(v_range[0] * density, min(v_range[1] * density, h))
        c0, r0 = int(max(cu - size[0] / 2, 0)), int(max(cv - size[1] / 2, 0))
        c1, r1 = int(min(cu + size[0] / 2, w)), int(min(cv + size[1] / 2, h))
        if c1 - c0 < 3 or r1 - r0 < 3:
            continue
        rows, cols = np.mgrid[r0:r1, c0:c1].astype(np.float32)
        inside = np.ones(rows.shape, bool)
        if rng.random() < 0.5:
            inside = ((cols - cu) / (size[0] / 2)) ** 2 + ((rows - cv) / (size[1] / 2)) ** 2 <= 1
        colour_a = hsv(rng.random(), rng.uniform(0.4, 1), rng.uniform(0.3, 1))
        colour_b = hsv(rng.random(), rng.uniform(0.2, 1), rng.uniform(0.2, 1))
        mix = np.clip(0.5 + 0.8 * noise(rng, rows.shape, rng.uniform(3, 8)), 0, 1)[..., None]
        patch = colour_a * mix + colour_b * (1 - mix)
        image[r0:r1, c0:c1][inside] = patch[inside]


@dataclass(frozen=True)
class WindowGrid:
    """A facade's floors and window columns: where each texel lies on them, and the window outline there."""

    floor: np.ndarray  # (H, W) row of the per-window tables (floor), clipped
    column: np.ndarray  # (H, W) column of the per-window tables, clipped
    across: np.ndarray  # (H, W) metres from the centre of the window column
    up: np.ndarray  # (H, W) metres above the floor
    valid: np.ndarray  # (H, W) in a floor and column that has windows
    half_width: np.ndarray  # (H, W) of the window (wider on the ground floor)
    top: np.ndarray  # (H, W) of the window, above the floor
    bottom: np.ndarray  # (H, W)
    table_shape: tuple[int, int]  # of the per-window tables


@dataclass(frozen=True)
class Windows:
    """Where a facade's windows, frames and sills are (H, W) and their colours."""

    glass: np.ndarray
    frame: np.ndarray
    sill: np.ndarray  # the ledge under each window, snowy in the season variant
    pane_colour: np.ndarray  # (H, W, 3): glass, curtains, mullions
    frame_colour: np.ndarray  # (3,)


def _wall_shade(
    rng: np.random.Generator, shape: tuple[int, int], uu: np.ndarray, vv: np.ndarray, density: float
) -> np.ndarray:
    """Brightness of a wall: grain and speckle on bricks, panels or plaster."""
    grain = fbm(rng, shape, (1.2 * density, 0.4 * density, 0.15 * density, 6.0))
    speckle = noise(rng, shape, 3.5)  # blobs of a few pixels in the image: what SIFT detects
    wall_shade = 1 + 0.12 * grain + 0.12 * speckle
    style = rng.integers(3)
    if style == 0:  # bricks with a per-brick shade
        bw, bh = rng.uniform(0.35, 0.55), rng.uniform(0.14, 0.22)
        row = np.floor(vv / bh)
        shifted = uu + 0.5 * bw * (row % 2)
        col = np.floor(shifted / bw)
        table = rng.uniform(0.6, 1.3, (int(row.max()) + 2, int(col.max()) + 2)).astype(np.float32)
        mortar = (vv - row * bh < 0.025) | (shifted - col * bw < 0.025)
        wall_shade *= np.where(mortar, 1.35, table[row.astype(int), col.astype(int)])
    elif style == 1:  # large panels with seams
        pw, ph = rng.uniform(1.0, 2.0), rng.uniform(0.7, 1.4)
        row, col = np.floor(vv / ph), np.floor(uu / pw)
        table = rng.uniform(0.8, 1.15, (int(row.max()) + 2, int(col.max()) + 2)).astype(np.float32)
        seam = (vv - row * ph < 0.04) | (uu - col * pw < 0.04)
        wall_shade *= np.where(seam, 0.6, table[row.astype(int), col.astype(int)])
    else:  # plaster with stains
        wall_shade *= 1 + 0.18 * fbm(rng, shape, (0.8 * density, 0.25 * density))
    return wall_shade


def _window_grid(
    rng: np.random.Generator, uu: np.ndarray, vv: np.ndarray, width_m: float, height_m: float
) -> WindowGrid:
    """Floors of random height and window columns of random spacing over a facade, and random window sizes."""
    floor_h, spacing = rng.uniform(2.8, 3.4), rng.uniform(1.8, 3.2)
    win_w, win_h = rng.uniform(0.7, min(1.5, spacing - 0.5)), rng.uniform(1.1, 1.7)
    sill = 0.5 * (floor_h - win_h)
    margin = 0.5 * (width_m - spacing * np.floor((width_m - 0.6) / spacing))
    floor = np.floor(vv / floor_h)
    col = np.floor((uu - margin) / spacing)
    n_floors, n_cols = int(height_m / floor_h), int(np.floor((width_m - 0.6) / spacing))
    return WindowGrid(
        floor=np.clip(floor, 0, n_floors + 1).astype(int),
        column=np.clip(col, 0, n_cols + 1).astype(int),
        across=uu - margin - col * spacing - 0.5 * spacing,
        up=vv - floor * floor_h,
        valid=(col >= 0) & (col < n_cols) & (floor < n_floors - (height_m - n_floors * floor_h < 0.6)),
        half_width=np.where(floor == 0, 0.5 * min(spacing - 0.3, win_w * 1.6), 0.5 * win_w),
        top=np.where(floor == 0, floor_h - 0.6, sill + win_h),
        bottom=np.where(floor == 0, 0.25, sill),
        table_shape=(n_floors + 2, n_cols + 2),
    )


def _windows(rng: np.random.Generator, grid: WindowGrid, hue: float) -> Windows:
    """Windows on the grid, a few left out; each with its own glass shade, curtain and frame colour."""
    fi, ci, fx, fy, tshape = grid.floor, grid.column, grid.across, grid.up, grid.table_shape
    present = rng.random(tshape) > 0.12
    glass = rng.uniform(0.4, 1.5, tshape).astype(np.float32)
    curtain = rng.uniform(0.0, 1.0, tshape).astype(np.float32)
    curtains = [hsv(rng.random(), rng.uniform(0, 0.5), rng.uniform(0.6, 0.95)) for _ in range(tshape[0] * tshape[1])]
    curtain_colour = np.stack(curtains).reshape(*tshape, 3)
    frame_t = 0.08
    placed = grid.valid & present[fi, ci]
    window = placed & (np.abs(fx) < grid.half_width) & (fy > grid.bottom) & (fy < grid.top)
    framed = (
        placed
        & (np.abs(fx) < grid.half_width + frame_t)
        & (fy > grid.bottom - frame_t)
        & (fy < grid.top + frame_t)
        & ~window
    )
    sill = placed & (np.abs(fx) < grid.half_width + 0.15) & (fy > grid.bottom - 0.12) & (fy < grid.bottom - frame_t)
    rel = (fy - grid.bottom) / np.maximum(grid.top - grid.bottom, 1e-3)
    pane = np.array([0.16, 0.21, 0.28], np.float32) * (glass[fi, ci] * (0.8 + 0.5 * rel))[..., None]
    pane = np.where(
        (rel > curtain[fi, ci])[..., None] & (curtain[fi, ci] > 0.3)[..., None], curtain_colour[fi, ci], pane
    )
    mullion = np.abs(fx) < 0.03
    pane = np.where(mullion[..., None], 0.9, pane)
    frame_colour = hsv(hue + rng.uniform(-0.5, 0.5), rng.uniform(0, 0.3), rng.uniform(0.75, 0.98))
    return Windows(window, framed, sill, pane, frame_colour)


def _with_windows(wall: np.ndarray, windows: Windows, snow: bool) -> np.ndarray:
    """The wall image with the window frames and panes on it, and with snow on the sills."""
    image = np.where(windows.frame[..., None], windows.frame_colour, wall)
    image = np.where(windows.glass[..., None], windows.pane_colour, image)
    if snow:
        image = np.where(windows.sill[..., None], 0.95, image)
    return np.clip(image, 0, 1)


def facade(
    rng: np.random.Generator, width_m: float, height_m: float, density: float, hue: float
) -> tuple[np.ndarray, np.ndarray]:
    """A building side (rows are heights from the ground up): wall pattern, windows and posters; day and season RGB."""
    shape = (max(int(round(height_m * density)), 4), max(int(round(width_m * density)), 4))
    uu, vv = _grid(shape, density)
    sat, val = rng.uniform(0.25, 0.6), rng.uniform(0.5, 0.85)
    wall_shade = _wall_shade(rng, shape, uu, vv, density)
    windows = _windows(rng, _window_grid(rng, uu, vv, width_m, height_m), hue)
    num_decals = int(width_m * height_m / 5) + 4
    decal_seed = rng.integers(2**32)
    day = hsv(hue, sat, val) * wall_shade[..., None]
    _paint_decals(np.random.default_rng(decal_seed), day, density, num_decals, (0.2, height_m))
    # season: repainted walls, half of the posters replaced (another stream after the shared first ones), snow on sills
    season_rng = np.random.default_rng([decal_seed, 1]) if rng.random() < 0.5 else np.random.default_rng(decal_seed)
    season = hsv(hue + rng.uniform(0.08, 0.2), sat * 0.8, val * 0.95) * wall_shade[..., None]
    _paint_decals(season_rng, season, density, num_decals, (0.2, height_m))
    return _with_windows(day, windows, snow=False), _with_windows(season, windows, snow=True)


def ground(
    rng: np.random.Generator,
    size_m: tuple[float, float],
    origin: tuple[float, float],
    density: float,
    street_half_width: float | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ground (columns along x, rows along y): asphalt, lane marks, pavement tiles and stains; season is snow."""
    shape = (int(round(size_m[1] * density)), int(round(size_m[0] * density)))
    uu, vv = _grid(shape, density)
    x, y = uu + origin[0], vv + origin[1]
    grain = fbm(rng, shape, (3.0 * density, 0.8 * density, 0.25 * density, 5.0)) + 0.8 * noise(rng, shape, 2.5)
    tile_size = rng.uniform(0.5, 0.9)
    row, col = np.floor(y / tile_size), np.floor(x / tile_size)
    tile_table = rng.uniform(0.8, 1.2, (int(row.max() - row.min()) + 2, int(col.max() - col.min()) + 2)).astype(
        np.float32
    )
    tile_shade = tile_table[(row - row.min()).astype(int), (col - col.min()).astype(int)]
    joint = (y - row * tile_size < 0.03) | (x - col * tile_size < 0.03)
    tiles = np.array([0.62, 0.58, 0.52], np.float32) * np.where(joint, 0.55, tile_shade)[..., None]
    if street_half_width is None:  # a plaza of tiles
        image = tiles * (1 + 0.12 * grain[..., None])
        road = np.zeros(shape, bool)
    else:
        road = np.abs(y) < street_half_width - 2.5
        asphalt = np.array([0.3, 0.3, 0.32], np.float32) * (1 + 0.22 * grain[..., None])
        image = np.where(road[..., None], asphalt, tiles * (1 + 0.1 * grain[..., None]))
        dash_offset = rng.uniform(0, 6)
        lane = (np.abs(y) < 0.08) & ((x + dash_offset) % 6 < 3)
        kerb = np.abs(np.abs(y) - (street_half_width - 2.5)) < 0.1
        image = np.where((lane | kerb)[..., None], np.float32(0.9), image)
    stains = np.clip(fbm(rng, shape, (1.5 * density, 0.5 * density)) - 1.0, 0, 1)
    image = image * (1 - 0.5 * stains[..., None])
    _paint_decals(rng, image, density, int(size_m[0] * size_m[1] / 8) + 2, (0, size_m[1]), (0.1, 0.8))
    day = np.clip(image, 0, 1)

    cover = np.clip((fbm(rng, shape, (2.0 * density, 0.6 * density)) + 0.6) * 2.0, 0, 1)
    if street_half_width is not None:  # darker wheel tracks where the snow is thin
        wobble = 0.3 * noise(rng, shape, 4 * density)
        tracks = np.exp(-(((np.abs(y + wobble) % 3.0) - 1.5) ** 2) / 0.08) * road
        cover = cover * (1 - 0.7 * tracks)
    snow = np.array([0.9, 0.92, 0.96], np.float32) * (1 + 0.05 * grain[..., None])
    season = np.clip(snow * cover[..., None] + day * 0.8 * (1 - cover[..., None]), 0, 1)
    return day, season


def roof(rng: np.random.Generator, width_m: float, depth_m: float, density: float) -> tuple[np.ndarray, np.ndarray]:
    """A plain roof (rarely seen from the street)."""
    shape = (max(int(round(depth_m * density)), 4), max(int(round(width_m * density)), 4))
    day = np.clip(0.35 * (1 + 0.2 * fbm(rng, shape, (0.5 * density, 4.0)))[..., None] * np.ones(3, np.float32), 0, 1)
    return day, np.full_like(day, 0.92)


def terrain(rng: np.random.Generator, size_m: float, density: float) -> tuple[np.ndarray, np.ndarray]:
    """Open land seen from above and from the ground (a square, rows along y): grass, soil and paving, straight roads
    with lane marks, flower beds and stains; season is snow. What makes a place recognisable from the air."""
    shape = (int(round(size_m * density)),) * 2
    x, y = _grid(shape, density)
    cover = fbm(rng, shape, (25 * density, 8 * density))
    grain = fbm(rng, shape, (2.0 * density, 0.6 * density, 0.2 * density)) + 0.6 * noise(rng, shape, 2.0)
    grass = hsv(rng.uniform(0.2, 0.3), rng.uniform(0.4, 0.6), rng.uniform(0.35, 0.5))
    soil = hsv(rng.uniform(0.06, 0.11), rng.uniform(0.3, 0.5), rng.uniform(0.4, 0.55))
    paving = hsv(rng.uniform(0, 1), 0.05, rng.uniform(0.5, 0.65))
    weights = np.stack([np.clip(1.5 * cover, 0, 1), np.clip(-1.5 * cover, 0, 1)], -1)
    image = paving * (1 - weights.sum(-1, keepdims=True)) + weights[..., :1] * grass + weights[..., 1:] * soil
    image = image * (1 + 0.18 * grain[..., None])
    _paint_decals(rng, image, density, int(size_m * size_m / 60), (0, size_m), (1.0, 6.0))
    for _ in range(rng.integers(2, 4)):  # straight roads through the scene
        angle, offset = rng.uniform(0, np.pi), rng.uniform(-0.3, 0.3) * size_m
        half_width = rng.uniform(3.0, 5.0)
        across = (x - size_m / 2) * np.sin(angle) - (y - size_m / 2) * np.cos(angle) - offset
        along = (x - size_m / 2) * np.cos(angle) + (y - size_m / 2) * np.sin(angle)
        road = np.abs(across) < half_width
        asphalt = np.array([0.28, 0.28, 0.3], np.float32) * (1 + 0.2 * grain[..., None])
        image = np.where(road[..., None], asphalt, image)
        marks = (np.abs(across) < 0.1) & ((along + rng.uniform(0, 6)) % 6 < 3)
        marks |= np.abs(np.abs(across) - (half_width - 0.3)) < 0.1
        image = np.where(marks[..., None], np.float32(0.88), image)
    stains = np.clip(fbm(rng, shape, (3 * density, 1 * density)) - 1.0, 0, 1)
    day = np.clip(image * (1 - 0.4 * stains[..., None]), 0, 1).astype(np.float32)
    snow_cover = np.clip((fbm(rng, shape, (4.0 * density, 1.0 * density)) + 0.7) * 2.0, 0, 1)[..., None]
    snow = np.array([0.9, 0.92, 0.96], np.float32) * (1 + 0.05 * grain[..., None])
    season = np.clip(snow * snow_cover + day * 0.8 * (1 - snow_cover), 0, 1).astype(np.float32)
    return day, season
