"""Command-line interface: each module registers one stage on the shared app."""

from importlib import import_module

from .app import app

for _module in ("extract", "pairs", "match", "synth", "mapping", "localize", "evaluate", "prepare", "benchmark"):
    try:
        import_module(f"{__name__}.{_module}")
    except ModuleNotFoundError as _error:
        if _error.name != f"{__name__}.{_module}":
            raise

__all__ = ["app"]
