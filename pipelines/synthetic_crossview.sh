#!/usr/bin/env bash
# DenseFlow (ground-to-aerial x, y, yaw) on vloc's synthetic cross-view scenes: render the scenes (the last ones are
# the test split, never trained on), train the network, then localize the test views by day and by night from their
# seeded priors (+-10 m along and across the heading, +-10 deg) with DenseFlow's confidence-weighted fit, the same
# fit unweighted, and the correlation-only baseline; evaluate each.
# Usage: pipelines/synthetic_crossview.sh [OUT] [STEPS]   (training: about 50 minutes on 2 CPU cores)
# NUM_SCENES (40), NUM_TEST_SCENES (8) and VIEWS (12 per scene) size the data, SEED (0) draws it; CHECKPOINT=path
# skips training (e.g. CHECKPOINT=vloc/models/weights/denseflow.pt, the network this recipe trains with its defaults;
# with SEED=1 every scene is one it never saw).
set -euo pipefail
OUT=${1:-outputs/synthetic_crossview}
STEPS=${2:-2500}
NUM_SCENES=${NUM_SCENES:-40}
NUM_TEST_SCENES=${NUM_TEST_SCENES:-8}
VIEWS=${VIEWS:-12}
SEED=${SEED:-0}
CHECKPOINT=${CHECKPOINT:-}

vloc synth-crossview "$OUT/data" --seed "$SEED" --set num_scenes="$NUM_SCENES" --set num_test_scenes="$NUM_TEST_SCENES" \
    --set views_per_scene="$VIEWS"
if [ -z "$CHECKPOINT" ]; then
    vloc train crossview "$OUT/data" "$OUT/model" --set steps="$STEPS"
    CHECKPOINT="$OUT/model/denseflow.pt"
fi
for condition in day night; do
    for method in flow flow-unweighted correlation; do
        results="$OUT/results/${method}_${condition}.txt"
        vloc crossview localize "$OUT/data" "$CHECKPOINT" "$results" --split test --condition "$condition" \
            --method "$method"
        vloc crossview evaluate "$OUT/data" "$results" --json "${results%.txt}.json"
    done
done
