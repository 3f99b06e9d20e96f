"""Command-line interface: each module registers its stage on the shared app, in pipeline order."""

from . import synth, prepare, extract, vocab, pairs, match, mapping, instances, recognize, localize, refine, evaluate, benchmark, train  # noqa: F401, I001
from .app import app

__all__ = ["app"]
