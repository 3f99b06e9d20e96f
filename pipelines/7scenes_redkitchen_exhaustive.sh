#!/usr/bin/env bash
# 7-Scenes redkitchen subset, both splits, hloc's protocol for this table: triangulate the mapping frames from their
# known poses (20 nearest cameras per frame), match each query with every mapping frame, localize, evaluate, and check
# how well the ground truth explains the query matches (consistency.json).
# Usage: pipelines/7scenes_redkitchen_exhaustive.sh [OUT] [SPLITS]   (SPLITS default "easy hard"; data: $DATA or
# ../shared/data)
# NUM_QUERIES=N keeps the first N queries of each split (for a quick run).
# FEATURES=aliked MATCHER=lightglue runs it with learned features and matching.
set -euo pipefail
OUT=${1:-outputs/7scenes_redkitchen_exhaustive}
FEATURES=${FEATURES:-sift}  # local features: sift, or aliked / disk (learned, README "Learned features")
MATCHER=${MATCHER:-nn-ratio}  # nn-ratio, or lightglue / lightglue-disk for aliked / disk
SPLITS=${2:-easy hard}
DATA=${DATA:-$(cd "$(dirname "$0")/../.." && pwd)/shared/data}
ROOT="$DATA/7scenes_redkitchen_subset"
IMAGES="$ROOT/frames"
mkdir -p "$OUT"

for SPLIT in $SPLITS; do
    S="$OUT/$SPLIT"
    vloc prepare 7scenes "$S" --root "$ROOT" --split "$SPLIT"
    if [ -n "${NUM_QUERIES:-}" ]; then
        head -n "$NUM_QUERIES" "$S/query_list.txt" > "$S/query_subset.txt" && mv "$S/query_subset.txt" "$S/query_list.txt"
        grep -F -f "$S/query_list.txt" "$S/queries.txt" > "$S/queries_subset.txt" && mv "$S/queries_subset.txt" "$S/queries.txt"
    fi
    # Features are shared by both splits: extraction skips the images already in the file.
    vloc extract local "$IMAGES" "$OUT/feats-$FEATURES.h5" --conf "$FEATURES" \
        --list <(cat "$S/mapping.txt" "$S/query_list.txt")
    vloc pairs from-poses "$S/pairs-mapping.txt" --model "$S/reference" --num 20
    vloc pairs exhaustive "$S/pairs-query.txt" --list "$S/query_list.txt" --ref-list "$S/mapping.txt"
    echo "7-Scenes redkitchen, $SPLIT split"
    vloc match features "$S/pairs-mapping.txt" "$OUT/feats-$FEATURES.h5" "$S/matches-mapping.h5" --conf "$MATCHER"
    vloc match features "$S/pairs-query.txt" "$OUT/feats-$FEATURES.h5" "$S/matches-query.h5" --conf "$MATCHER"
    vloc triangulate "$S/reference" "$IMAGES" "$S/pairs-mapping.txt" "$OUT/feats-$FEATURES.h5" "$S/matches-mapping.h5" \
        "$S/model"
    vloc localize "$S/model" "$S/queries.txt" "$S/pairs-query.txt" "$OUT/feats-$FEATURES.h5" "$S/matches-query.h5" \
        "$S/results.txt"
    vloc evaluate poses "$S/results.txt" "$S/ground_truth.txt" --dataset-json "$S/dataset.json" \
        --out-json "$S/evaluation.json" --plot "$S/errors.png"
    vloc evaluate consistency "$S/model" "$S/queries.txt" "$S/pairs-query.txt" "$OUT/feats-$FEATURES.h5" \
        "$S/matches-query.h5" "$S/results.txt" "$S/ground_truth.txt" --dataset-json "$S/dataset.json" \
        --out-json "$S/consistency.json"
done
