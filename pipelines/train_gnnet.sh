#!/usr/bin/env bash
# Train the GN-Net checkpoint shipped in vloc/models/weights/gnnet.pt, on vloc's synthetic scenes only:
# a 48-camera street in daylight to train on (pairs of viewpoints), a 12-camera ring (another seed; day, night and
# season) to validate on. Night and season pairs are left out of training: with them, the features matched real
# images (templeRing, 7-Scenes) far worse and refined synthetic night queries no better.
# Usage: pipelines/train_gnnet.sh [OUT] [EPOCHS]   (about 20 minutes on 2 CPU cores for 6 epochs)
# NUM_CAMERAS (48), VALIDATION_CAMERAS (12) and WIDTH/HEIGHT/FOCAL (320/240/250) size the scenes; the defaults are
# those of the shipped checkpoint.
# Fine-tune on your own COLMAP model afterwards:
#   vloc train gnnet OUT-ft --colmap-model MODEL --images IMAGES --init vloc/models/weights/gnnet.pt --set epochs=2
set -euo pipefail
OUT=${1:-outputs/gnnet-train}
EPOCHS=${2:-6}
NUM_CAMERAS=${NUM_CAMERAS:-48}
VALIDATION_CAMERAS=${VALIDATION_CAMERAS:-12}
WIDTH=${WIDTH:-320}
HEIGHT=${HEIGHT:-240}
FOCAL=${FOCAL:-250}

vloc synth "$OUT/scene" --seed 0 --num-cameras "$NUM_CAMERAS" --width "$WIDTH" --height "$HEIGHT" --focal "$FOCAL" \
    --conditions day
vloc synth "$OUT/validation" --seed 1 --num-cameras "$VALIDATION_CAMERAS" --width "$WIDTH" --height "$HEIGHT" \
    --focal "$FOCAL" --layout ring
vloc train gnnet "$OUT/run" --synthetic "$OUT/scene" --validation-synthetic "$OUT/validation" --set epochs="$EPOCHS"
echo "checkpoint: $OUT/run/gnnet.pt (copy it to vloc/models/weights/gnnet.pt to ship it)"
