#!/usr/bin/env bash
# CrossLoc on a synthetic street: the day renders are the synthetic domain (every pose), the night renders of the even
# poses the real one; the night renders of the odd poses are the queries. CrossLoc's stages (pretrain on day; fine-tune
# on night and day; fuse the frozen depth and normal encoders), then localize by DSAC* and evaluate.
# ABLATION=1 also trains, at the same number of coordinate-network frame updates, a coordinate network on the night
# frames only and one pretrained on day then fine-tuned without fusion (results-*.txt).
# Usage: pipelines/synthetic_street_scr.sh [OUT]   (no dataset needed)
# NUM_CAMERAS sizes the street (80 poses, 320x240); PRETRAIN=E and FINETUNE=E the epochs of the stages (10 and 8);
# SCR_SET passes further --set overrides to every `vloc train scr`.
set -euo pipefail
OUT=${1:-outputs/synthetic_street_scr}
NUM_CAMERAS=${NUM_CAMERAS:-80}
PRETRAIN=${PRETRAIN:-10}
FINETUNE=${FINETUNE:-8}
MODEL="model.image_height=240"
S="$OUT" TWIN="$OUT/scene" SYNTHETIC=day REAL=night IMAGES="$OUT/scene/images"
QUERIES="$OUT/queries.txt" GROUND_TRUTH="$OUT/ground_truth.txt" DATASET_JSON="$OUT/dataset.json" FRAMES="$OUT/frames.txt"
# shellcheck source=pipelines/lib/crossloc.sh
. "$(dirname "$0")/lib/crossloc.sh"

[ -f "$TWIN/scene.json" ] || vloc synth "$TWIN" --num-cameras "$NUM_CAMERAS" --conditions day,night --seed 0 \
    --width 320 --height 240 --focal 250
vloc prepare synthetic "$OUT" --root "$TWIN" --condition night
# train on every day frame and the night frames of the mapping poses; the night queries are held out
{ sed 's#^day/#night/#' "$OUT/mapping.txt"; grep '^day/' <(cd "$TWIN/images" && find day -type f | sort); } > "$FRAMES"
echo "synthetic street, day map, night queries"
crossloc
