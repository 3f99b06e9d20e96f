#!/usr/bin/env bash
# Train the IMP matcher for SIFT on vloc's synthetic scenes only: a street by day and by night (pairs across viewpoints
# and across conditions, ground-truth matches from the rendered depth); the epochs' validation pairs are held out of it.
# Usage: pipelines/train_imp.sh [OUT] [EPOCHS]
# NUM_CAMERAS sizes the scene (48); IMP_SET passes further --set overrides to `vloc train matcher`.
# Then: vloc match features PAIRS FEATURES MATCHES --conf imp --set weights=OUT/run/imp.pt
set -euo pipefail
OUT=${1:-outputs/imp-train}
EPOCHS=${2:-10}
NUM_CAMERAS=${NUM_CAMERAS:-48}

vloc synth "$OUT/scene" --seed 0 --num-cameras "$NUM_CAMERAS" --conditions day,night
vloc extract local "$OUT/scene/images" "$OUT/feats-sift.h5" --conf sift
# shellcheck disable=SC2086  # IMP_SET is a list of --set arguments
vloc train matcher "$OUT/run" --synthetic "$OUT/scene" --features "$OUT/feats-sift.h5" --set epochs="$EPOCHS" \
    ${IMP_SET:-}
echo "checkpoint: $OUT/run/imp.pt (copy it to vloc/models/weights/imp-sift.pt to ship it)"
