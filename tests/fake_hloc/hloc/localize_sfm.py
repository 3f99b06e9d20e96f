from pathlib import Path

from hloc import record
from vloc.localize import hierarchical
from vloc.pnp.absolute_pose import LocalizeConf
from vloc.pnp.inputs import LocalizationInputs


def main(reference_sfm, queries, retrieval, features, matches, results, ransac_thresh=12, **options):
    record("localize_sfm", reference_sfm, queries, retrieval, features, matches, results)
    inputs = LocalizationInputs(reference_sfm, queries, retrieval, features, matches)
    hierarchical.main(LocalizeConf(ransac_max_error=ransac_thresh), inputs, results)
    # as hloc: each query by its file name alone
    lines = Path(results).read_text().splitlines()
    Path(results).write_text(
        "".join(f"{Path(name).name} {pose}\n" for name, pose in (line.split(" ", 1) for line in lines))
    )
