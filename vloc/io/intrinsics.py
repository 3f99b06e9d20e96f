"""Where each query camera's intrinsics came from, in `<queries stem>_intrinsics.json` beside an hloc queries file."""

from __future__ import annotations

import json
from pathlib import Path

from vloc.errors import FormatError
from vloc.io.text import write_text_atomic

# given: measured or calibrated (trusted as is); exif: from the photo's EXIF focal length; prior: a guess from the
# image size; estimated: solved for with the pose.
SOURCES = ("given", "exif", "prior", "estimated")
UNCERTAIN_SOURCES = ("exif", "prior")  # localization estimates the focal length of these


def sources_path(queries: Path) -> Path:
    """`queries.txt` -> `queries_intrinsics.json`."""
    return queries.with_name(f"{queries.stem}_intrinsics.json")


def read_intrinsics_sources(queries: Path) -> dict[str, str]:
    """The source of each query's intrinsics; empty (every camera `given`) when the file beside `queries` is absent."""
    path = sources_path(queries)
    if not path.exists():
        return {}
    try:
        sources = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FormatError(f"{path}: not a JSON file ({error})") from None
    if not isinstance(sources, dict) or not all(isinstance(v, str) for v in sources.values()):
        raise FormatError(f"{path}: expected an object mapping each query name to one of {', '.join(SOURCES)}")
    unknown = sorted({v for v in sources.values() if v not in SOURCES})
    if unknown:
        raise FormatError(f"{path}: unknown intrinsics source(s) {', '.join(unknown)}; known: {', '.join(SOURCES)}")
    return sources


def write_intrinsics_sources(queries: Path, sources: dict[str, str]) -> Path:
    """Write the sources beside the queries file `queries`."""
    path = sources_path(queries)
    write_text_atomic(path, json.dumps(dict(sorted(sources.items())), indent=1) + "\n")
    return path
