#!/usr/bin/env bash
# Synthetic street (LBR) with a trained recognizer: synthetic_street.sh, then LBR again with the segmentation recognizer
# trained on the day map's images and vloc's generated instance labels (vloc train recognizer): results-lbr-seg.txt and
# evaluation-lbr-seg.json beside the vote recognizer's evaluation-lbr.json. On vloc's generated labels it recognises a
# truly visible instance first in 60% of the night queries (95% with the renderer's masks,
# `vloc instances build --masks`); vote gets 95%.
# Usage: pipelines/synthetic_street_seg.sh [OUT]   (default outputs/synthetic_street_seg; no dataset needed)
# NUM_CAMERAS, NUM_BUILDINGS, WIDTH/HEIGHT/FOCAL and BUDGET as in synthetic_street.sh; RECOGNIZER_EPOCHS is the
# recognizer's training length (default 160).
set -euo pipefail
OUT=${1:-outputs/synthetic_street_seg}
BUDGET=${BUDGET:-10}
RECOGNIZER_EPOCHS=${RECOGNIZER_EPOCHS:-160}
IMAGES="$OUT/scene/images"

BUDGET="$BUDGET" bash "$(dirname "$0")/synthetic_street.sh" "$OUT"

echo "LBR: global instance recognition (seg), at most $BUDGET pairs per query, early exit"
vloc train recognizer "$OUT/recognizer" --instances "$OUT/instances.h5" --images "$IMAGES" \
    --set epochs="$RECOGNIZER_EPOCHS"
vloc recognize "$OUT/instances.h5" "$IMAGES" "$OUT/feats-sift.h5" "$OUT/recognitions-seg.h5" \
    --queries "$OUT/query_list.txt" --conf seg --set checkpoint="$OUT/recognizer/recognizer.pt"
vloc pairs instances "$OUT/pairs-instances-seg.txt" --recognitions "$OUT/recognitions-seg.h5" \
    --instances "$OUT/instances.h5" --descriptors "$OUT/global-vlad-queries.h5" \
    --db-descriptors "$OUT/global-vlad-mapping.h5" --max-pairs "$BUDGET"
vloc localize "$OUT/model" "$OUT/queries.txt" "$OUT/pairs-instances-seg.txt" "$OUT/feats-sift.h5" \
    "$OUT/matches-lbr-seg.h5" "$OUT/results-lbr-seg.txt" --method lbr --labels "$OUT/instances.h5" \
    --labels "$OUT/recognitions-seg.h5"
vloc evaluate poses "$OUT/results-lbr-seg.txt" "$OUT/ground_truth.txt" --dataset-json "$OUT/dataset.json" \
    --out-json "$OUT/evaluation-lbr-seg.json"
