"""Image discovery and reading; EXIF orientation is always ignored, so pixels match the file."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from vloc.config import guard_field
from vloc.errors import ConfigError, InputError, ResourceError
from vloc.io.atomic import write_bytes_atomic
from vloc.io.text import name_problem, read_image_list

logger = logging.getLogger(__name__)

# Pixel budget of an extracted image (after resize_max), for a 24 GiB machine: SIFT peaks at 0.28 GB per megapixel
# (pycolmap; OpenCV 0.23), so 40 Mpx stay under 12 GB. Heavier backbones set lower budgets in their presets.
LOCAL_MAX_PIXELS = 40_000_000
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".webp")


def list_image_names(root: Path) -> list[str]:
    """Paths, relative to `root`, of all image files below it, sorted; hidden ones (a name starting with '.', such as
    macOS's '._IMG_0001.jpg' metadata or a '.thumbnails' folder) are left out."""
    if not root.is_dir():
        raise InputError(f"{root}: image folder not found")
    found = [p.relative_to(root) for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES]
    names = sorted(p.as_posix() for p in found if not any(part.startswith(".") for part in p.parts))
    left_out = len(found) - len(names)
    hidden = f"; left out {left_out} hidden files, whose names start with '.'" if left_out else ""
    if hidden and names:
        logger.info("%s%s", root, hidden)
    if not names:
        raise InputError(f"{root}: no images found (looked for {', '.join(IMAGE_SUFFIXES)}){hidden}")
    return names


def select_images(root: Path, image_list: Path | None, skip_unusable: bool = False) -> list[str]:
    """Names of the images to process: those of `image_list`, or all below `root`; fails if `root` is not a folder,
    and at a name that text files cannot hold (whitespace, a leading '#', a control character) unless `skip_unusable`,
    which skips it with a warning."""
    if not root.is_dir():
        raise InputError(f"{root}: image folder not found")
    names = read_image_list(image_list) if image_list else list_image_names(root)
    if not names:
        raise InputError(f"{image_list}: no image names")
    return [name for name in names if _usable_name(root, name, skip_unusable)]


def check_image_names(root: Path, names: list[str]) -> None:
    """Refuse, naming the file, an image below `root` whose name text files cannot hold (for commands that offer
    no skipping)."""
    for name in names:
        _usable_name(root, name, skip_unusable=False, remedy="rename it")


def _usable_name(
    root: Path, name: str, skip_unusable: bool, remedy: str = "rename it, or skip such images with --skip-unreadable"
) -> bool:
    """Whether text files can hold `name`; if not, fail (saying `remedy`), or warn when `skip_unusable`."""
    problem = name_problem(name)
    if problem is None:
        return True
    if not skip_unusable:
        raise InputError(f"{root / name}: image name {problem}; {remedy}")
    logger.warning("skipping image %s: its name %s", root / name, problem)
    return False


def read_image(path: Path, grayscale: bool) -> np.ndarray:
    """Read an image as uint8 (H, W) or RGB (H, W, 3); fail naming the file when it is not an image or is a JPEG cut
    short."""
    if not path.exists():
        raise InputError(f"{path}: image not found")
    flags = cv2.IMREAD_IGNORE_ORIENTATION | (cv2.IMREAD_GRAYSCALE if grayscale else cv2.IMREAD_COLOR)
    image = cv2.imread(str(path), flags)
    if image is None:
        raise InputError(f"{path}: not a readable image")
    if jpeg_cut_short(path):
        raise InputError(f"{path}: a JPEG cut short (its data ends before the end of the image); copy it again")
    return image if grayscale else image[..., ::-1].copy()


def jpeg_cut_short(path: Path) -> bool:
    """Whether a JPEG file ends before its image does (an interrupted copy; also a file without its end marker).
    OpenCV decodes such a file with no error, grey below the cut; PIL's decoder, run cheaply at 1/8 scale, says so."""
    with path.open("rb") as file:
        if file.read(2) != b"\xff\xd8":
            return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.draft("L", (max(image.width // 8, 1), max(image.height // 8, 1)))
                image.load()
    except OSError as error:
        return "truncated" in str(error)  # other failures are PIL's, not the file's: OpenCV decoded it
    except (Image.DecompressionBombError, SyntaxError, ValueError):
        return False
    return False


def write_png(path: Path, rgb: np.ndarray) -> None:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError(f"{path}: PNG encoding failed")
    write_bytes_atomic(path, encoded.tobytes())


def fitted_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """(width, height) downscaled so that the longer side is at most `max_side` (unchanged if it already is)."""
    if not max_side or max(height, width) <= max_side:
        return width, height
    scale = max_side / max(height, width)
    return max(1, round(width * scale)), max(1, round(height * scale))


def resize_max(image: np.ndarray, max_side: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Downscale so that the longer side is at most `max_side`; returns the image and the (x, y) scale applied."""
    height, width = image.shape[:2]
    size = fitted_size(width, height, max_side)
    if size == (width, height):
        return image, np.ones(2)
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.array([size[0] / width, size[1] / height])


def header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file's header, without decoding the pixels; None where PIL cannot tell."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size is all that is read
            with Image.open(path) as image:
                return image.size
    except (OSError, Image.DecompressionBombError):  # not found, a format PIL lacks, or over PIL's own limit
        return None


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file's header; one line naming the file where it is missing or unreadable."""
    size = header_size(path)
    if size is None:
        raise InputError(f"{path}: image not found or not readable")
    return size


def check_pixel_budget(path: Path, size: tuple[int, int], preprocessing: Preprocessing) -> None:
    """Refuse an image whose extracted size (after resize_max) exceeds `preprocessing.max_pixels`."""
    width, height = fitted_size(*size, preprocessing.resize_max)
    if preprocessing.max_pixels is None or width * height <= preprocessing.max_pixels:
        return
    resized = "" if (width, height) == size else f" resized to {width}x{height}"
    raise ResourceError(
        f"{path}: {size[0]}x{size[1]} image{resized} is {width * height} pixels to extract, over "
        f"preprocessing.max_pixels={preprocessing.max_pixels} (memory); set preprocessing.resize_max, or raise "
        "preprocessing.max_pixels if the machine has the memory"
    )


def load_for_extraction(
    path: Path, grayscale: bool, preprocessing: Preprocessing
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Read and downscale an image; returns it, the (x, y) scale applied, and the original (width, height).
    An image over the pixel budget is refused from its header, before it is decoded, where PIL reads the format."""
    header = header_size(path)
    if header is not None:
        check_pixel_budget(path, header, preprocessing)
    image = read_image(path, grayscale)
    size = (image.shape[1], image.shape[0])
    if header is None:  # a format PIL does not read: checked once decoded, still before extraction
        check_pixel_budget(path, size, preprocessing)
    image, scale = resize_max(image, preprocessing.resize_max)
    return image, scale, size


def prefetch_images(
    root: Path, names: list[str], grayscale: bool, preprocessing: Preprocessing, skip_unreadable: bool
) -> Iterator[tuple[str, tuple | None]]:
    """Yield (name, `load_for_extraction` result, or None if unreadable and skipped), decoding ahead in a thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        futures = [pool.submit(load_for_extraction, root / n, grayscale, preprocessing) for n in names[:4]]
        for index, name in enumerate(names):
            if index + 4 < len(names):
                futures.append(pool.submit(load_for_extraction, root / names[index + 4], grayscale, preprocessing))
            try:
                yield name, futures[index].result()
            except InputError:
                if not skip_unreadable:
                    raise
                logger.warning("skipping unreadable image %s", root / name)
                yield name, None
            futures[index] = None  # free the decoded image


@dataclass(frozen=True)
class Preprocessing:
    resize_max: int | None = 1600
    max_pixels: int | None = guard_field(LOCAL_MAX_PIXELS)  # of the image extracted, after resize_max; None: no limit

    def __post_init__(self) -> None:
        if self.resize_max is not None and self.resize_max < 0:
            raise ConfigError(
                f"preprocessing.resize_max must be positive (0 or none: no resize), not {self.resize_max}"
            )
