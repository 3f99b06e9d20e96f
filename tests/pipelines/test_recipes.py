"""Every recipe in pipelines/ has a smoke test in this folder."""

from __future__ import annotations

import re
from pathlib import Path

from helpers import PIPELINES


def test_every_recipe_has_a_smoke_test():
    """Each pipelines/*.sh is run by a test here, directly or by a variant recipe that runs it first."""
    source = "".join(test.read_text() for test in Path(__file__).parent.glob("test_*.py"))
    tested = {recipe.name for recipe in PIPELINES.glob("*.sh") if f'"{recipe.name}"' in source}
    for variant in list(tested):
        tested |= set(re.findall(r'bash "\$\(dirname "\$0"\)/([\w.]+\.sh)"', (PIPELINES / variant).read_text()))
    assert sorted(recipe.name for recipe in PIPELINES.glob("*.sh")) == sorted(tested)
