"""The localization methods by name (`vloc localize --method`) and their configurations."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vloc.config import override
from vloc.errors import ConfigError
from vloc.matchers.pair_matcher import MatchConf, conf_by_name
from vloc.pnp.absolute_pose import LocalizeConf

if TYPE_CHECKING:
    from vloc.localize.lbr import LbrConf

METHODS = ("hloc", "lbr")


def localization_confs(
    method: str, overrides: list[str], match_preset: str, match_overrides: list[str]
) -> tuple[LocalizeConf | LbrConf, MatchConf | None]:
    """The method's localizer configuration with its `key=value` overrides, and for lbr the matcher configuration
    for the pairs it matches on demand (None for hloc)."""
    if method == "hloc":
        return override(LocalizeConf(), overrides), None
    if method == "lbr":
        from vloc.localize.lbr import LbrConf  # imported here: LBR needs torch, which takes seconds to import

        return override(LbrConf(), overrides), override(conf_by_name(match_preset), match_overrides)
    raise ConfigError(f"--method must be one of {', '.join(METHODS)}, got '{method}'")
