#!/usr/bin/env bash
# 7-Scenes redkitchen subset by scene coordinate regression (CrossLoc): render a synthetic twin of the split's mapping
# frames from their RGB-D, then CrossLoc's three stages at the CPU budget: pretrain the coordinate, depth and normal
# networks on the twin; fine-tune each on the real mapping frames and the twin; train the coordinate network fused with
# the frozen depth and normal encoders. Localize the queries with the fused network (DSAC*) and evaluate.
# ABLATION=1 also trains, at the same number of coordinate-network frame updates, a coordinate network on the real
# frames only and one pretrained on the twin then fine-tuned without fusion, and evaluates both (results-*.txt).
# Usage: pipelines/7scenes_scr.sh [OUT] [SPLITS]   (SPLITS default "easy hard"; data: $DATA or ../shared/data)
# PRETRAIN=E and FINETUNE=E set the epochs of the stages (6 and 5); RENDERS=N the twin's renders (300); MAX_FRAMES=N
# makes the twin of N of the mapping frames (all); NUM_QUERIES=N keeps the first N queries (a quick run); SCR_SET passes
# further --set overrides to every `vloc train scr`.
set -euo pipefail
OUT=${1:-outputs/7scenes_scr}
SPLITS=${2:-easy hard}
PRETRAIN=${PRETRAIN:-6}
FINETUNE=${FINETUNE:-5}
RENDERS=${RENDERS:-300}
DATA=${DATA:-$(cd "$(dirname "$0")/../.." && pwd)/shared/data}
ROOT="$DATA/7scenes_redkitchen_subset"
MODEL="model.image_height=240"  # CPU budget: the networks read 320x240 images
SYNTHETIC=twin REAL=real FRAMES="" IMAGES="$ROOT/frames"
# shellcheck source=pipelines/lib/crossloc.sh
. "$(dirname "$0")/lib/crossloc.sh"

for SPLIT in $SPLITS; do
    S="$OUT/$SPLIT"
    TWIN="$S/twin" QUERIES="$S/queries.txt" GROUND_TRUTH="$S/ground_truth.txt" DATASET_JSON="$S/dataset.json"
    vloc prepare 7scenes "$S" --root "$ROOT" --split "$SPLIT"
    if [ -n "${NUM_QUERIES:-}" ]; then
        head -n "$NUM_QUERIES" "$S/query_list.txt" > "$S/query_subset.txt" && mv "$S/query_subset.txt" "$S/query_list.txt"
        grep -F -f "$S/query_list.txt" "$S/queries.txt" > "$S/queries_subset.txt" && mv "$S/queries_subset.txt" "$S/queries.txt"
    fi
    [ -f "$TWIN/scene.json" ] || vloc synth-twin "$TWIN" --root "$ROOT" --split "$SPLIT" \
        --max-frames "${MAX_FRAMES:-0}" --set num_renders="$RENDERS"
    echo "7-Scenes redkitchen, $SPLIT split"
    crossloc
done
