"""Command-line interface: each module registers its stage on the shared app, in pipeline order."""

# ruff: noqa: F401, I001  (importing a module registers its commands; the order is the help's)
from vloc.cli import (
    synth,
    prepare,
    convert,
    cameras,
    extract,
    vocab,
    pairs,
    match,
    mapping,
    instances,
    recognize,
    localize,
    refine,
    crossview,
)
from vloc.cli import evaluate, show, benchmark, train, weights
from vloc.cli.app import app

__all__ = ["app"]
