"""vloc: a visual-localization toolkit of composable stages that talk through files."""

__version__ = "0.1.0"
