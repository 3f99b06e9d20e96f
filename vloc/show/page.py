"""The 3D view as one self-contained HTML page: plotly.js inlined, so it opens offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import plotly.io
import pycolmap

from vloc.errors import ConfigError
from vloc.io.model import read_model
from vloc.io.text import write_text_atomic
from vloc.show.queries import Queries, read_queries
from vloc.show.scene import (
    FRUSTUM_DEPTH,
    FRUSTUM_PATH,
    camera_centres,
    common_camera,
    frustum_polylines,
    sampled_points,
    scene_extent,
    viewpoint,
)

MAPPING_COLOUR = "rgb(0, 90, 255)"  # blue, outside the queries' red-yellow-green scale
QUERY_COLOUR = "rgb(230, 0, 180)"  # magenta, for queries with nothing to colour them by
QUERY_SCALE = "RdYlGn"  # red (bad) to green (good)
GOOD_INLIERS = 100  # PnP inliers from which a query is green
BAD_ERROR = 0.02  # position error, as a fraction of the scene extent, from which a query is red
VERTICES_PER_FRUSTUM = len(FRUSTUM_PATH) + 1  # with the gap after each


def points_trace(xyz: np.ndarray, rgb: np.ndarray, total: int) -> go.Scatter3d:
    """The 3D points, each in its own colour, without hover text (tens of thousands of labels slow the page)."""
    colours = [f"#{r:02x}{g:02x}{b:02x}" for r, g, b in rgb]
    return go.Scatter3d(
        x=xyz[:, 0],
        y=xyz[:, 1],
        z=xyz[:, 2],
        mode="markers",
        marker={"size": 2, "color": colours},
        name=f"3D points ({len(xyz)} of {total})",
        hoverinfo="skip",
    )


def mapping_trace(model: pycolmap.Reconstruction, depth: float) -> go.Scatter3d:
    """The registered images' frustums, in one colour; hover gives the name and number of 3D points seen."""
    images = sorted((image for image in model.images.values() if image.has_pose), key=lambda image: image.name)
    lines = frustum_polylines([model.cameras[i.camera_id] for i in images], [i.cam_from_world() for i in images], depth)
    hover = [f"{i.name}<br>camera {i.camera_id}, {i.num_points3D} 3D points" for i in images]
    return go.Scatter3d(
        x=lines[:, 0],
        y=lines[:, 1],
        z=lines[:, 2],
        mode="lines",
        line={"color": MAPPING_COLOUR, "width": 2},
        text=np.repeat(hover, VERTICES_PER_FRUSTUM),
        hoverinfo="text",
        name=f"mapping cameras ({len(images)})",
    )


def colour_limit(queries: Queries, extent: float) -> tuple[float, str]:
    """The value at the end of the colour scale, from which all is green (inliers) or red (errors), and the colour
    bar's title that says so."""
    if queries.small_is_good:
        limit = BAD_ERROR * extent
        return limit, f"{queries.colour_label}<br>(red from {limit:.3g},<br>{100 * BAD_ERROR:g}% of the scene)"
    return GOOD_INLIERS, f"{queries.colour_label}<br>(green from {GOOD_INLIERS})"


def query_colouring(queries: Queries, names: list[str], repeat: int, limit: float) -> dict:
    """Plotly colour settings of the query traces: a red-to-green scale from 0 to `limit`, or one colour."""
    if queries.colour_values is None:
        return {"color": QUERY_COLOUR}
    values = np.array([queries.colour_values[name] for name in names], np.float64)
    return {
        "color": np.repeat(values, repeat),
        "colorscale": QUERY_SCALE,
        "reversescale": queries.small_is_good,
        "cmin": 0.0,
        "cmax": limit,
    }


def query_traces(queries: Queries, model: pycolmap.Reconstruction, extent: float) -> list[go.Scatter3d]:
    """The localized queries' frustums (shaped like the map's most common camera) and their centres, coloured; the
    centres carry the legend entry (a line coloured along a scale shows as black there)."""
    names = sorted(queries.poses)
    poses = [queries.poses[name] for name in names]
    lines = frustum_polylines([common_camera(model)] * len(names), poses, FRUSTUM_DEPTH * extent)
    centres = camera_centres(poses)
    hover = [queries.hover[name] for name in names]
    limit, title = colour_limit(queries, extent)
    line = {"width": 4, **query_colouring(queries, names, VERTICES_PER_FRUSTUM, limit)}
    if queries.colour_values is not None:
        line.update(showscale=True, colorbar={"title": {"text": title}})
    label = f"queries ({len(names)})" + (f", by {queries.colour_label}" if queries.colour_label else "")
    return [
        go.Scatter3d(
            x=lines[:, 0],
            y=lines[:, 1],
            z=lines[:, 2],
            mode="lines",
            line=line,
            text=np.repeat(hover, VERTICES_PER_FRUSTUM),
            hoverinfo="text",
            legendgroup="queries",
            showlegend=False,
        ),
        go.Scatter3d(
            x=centres[:, 0],
            y=centres[:, 1],
            z=centres[:, 2],
            mode="markers",
            text=hover,
            hoverinfo="text",
            marker={"size": 3, **query_colouring(queries, names, 1, limit)},
            name=label,
            legendgroup="queries",
        ),
    ]


def build_figure(model: pycolmap.Reconstruction, queries: Queries | None, max_points: int, title: str) -> go.Figure:
    """Points, mapping frustums and query frustums, sized by the scene extent and seen from behind the cameras."""
    xyz, rgb = sampled_points(model, max_points)
    poses = [image.cam_from_world() for image in model.images.values() if image.has_pose]
    extent = scene_extent(xyz, camera_centres(poses))
    traces = [points_trace(xyz, rgb, model.num_points3D()), mapping_trace(model, FRUSTUM_DEPTH * extent)]
    if queries is not None:
        traces += query_traces(queries, model, extent)
    up, eye = viewpoint(poses)
    camera = {"up": dict(zip("xyz", up.tolist())), "eye": dict(zip("xyz", (2.6 * eye).tolist()))}
    layout = go.Layout(
        title={"text": title},
        template="plotly_white",
        scene={"aspectmode": "data", "camera": camera},
        margin={"l": 0, "r": 0, "t": 40, "b": 0},
        legend={"x": 0, "y": 1},
    )
    return go.Figure(traces, layout)


def main(
    model_path: Path,
    out_html: Path,
    *,
    results: Path | None = None,
    ground_truth: Path | None = None,
    max_points: int = 50_000,
) -> Path:
    """Write the 3D view of a model (and of the queries of a results file) to `out_html`."""
    if ground_truth is not None and results is None:
        raise ConfigError(f"{ground_truth}: ground truth given without results to compare it with")
    if max_points < 0:
        raise ConfigError(f"max_points must be 0 or more, got {max_points}")
    model = read_model(model_path)
    queries = read_queries(results, ground_truth) if results is not None else None
    title = str(model_path) + (f" with {results}" if results is not None else "")
    figure = build_figure(model, queries, max_points, title)
    html = plotly.io.to_html(
        figure,
        include_plotlyjs=True,
        full_html=True,
        div_id="vloc-show",
        default_height="95vh",
        config={"displaylogo": False},
    )
    write_text_atomic(out_html, html)
    return out_html
