#!/usr/bin/env bash
# 7-Scenes redkitchen subset, both splits: triangulate the mapping frames from their known poses (20 nearest cameras
# per frame), match each query with its top-10 mapping frames by VLAD retrieval (vocabulary learnt on the mapping
# frames; recall@k in retrieval.json), localize (results-retrieval.txt); then match it with the 10 mapping frames
# nearest that first pose too (within 30 deg), localize again over both (results.txt), evaluate, and check how well the
# ground truth explains the query matches (consistency.json).
# Usage: pipelines/7scenes_redkitchen.sh [OUT] [SPLITS]   (SPLITS default "easy hard"; data: $DATA or ../shared/data)
# NUM_RETRIEVED=K changes the first 10, POSE_NEIGHBOURS=K the second; NUM_QUERIES=N keeps the first N queries of each
# split (for a quick run).
# FEATURES=aliked MATCHER=lightglue runs it with learned features and matching.
set -euo pipefail
OUT=${1:-outputs/7scenes_redkitchen}
FEATURES=${FEATURES:-sift}  # local features: sift, or aliked / disk (learned, README "Learned features")
MATCHER=${MATCHER:-nn-ratio}  # nn-ratio, or lightglue / lightglue-disk for aliked / disk
SPLITS=${2:-easy hard}
NUM_RETRIEVED=${NUM_RETRIEVED:-10}
POSE_NEIGHBOURS=${POSE_NEIGHBOURS:-10}
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
    # Features are shared by both splits: extraction skips the images already in the file. VLAD reads its RootSIFT
    # from feats-sift.h5 (with FEATURES=sift, the features matched).
    vloc extract local "$IMAGES" "$OUT/feats-sift.h5" --conf sift --list <(cat "$S/mapping.txt" "$S/query_list.txt")
    vloc extract local "$IMAGES" "$OUT/feats-$FEATURES.h5" --conf "$FEATURES" \
        --list <(cat "$S/mapping.txt" "$S/query_list.txt")
    vloc pairs from-poses "$S/pairs-mapping.txt" --model "$S/reference" --num 20
    vloc extract global "$IMAGES" "$S/global-vlad-mapping.h5" --conf vlad --list "$S/mapping.txt" \
        --local-features "$OUT/feats-sift.h5"
    vloc extract global "$IMAGES" "$S/global-vlad-queries.h5" --conf vlad --list "$S/query_list.txt" \
        --set vocabulary="$S/global-vlad-mapping.vocab.npz" --local-features "$OUT/feats-sift.h5"
    vloc pairs retrieval "$S/pairs-query.txt" --descriptors "$S/global-vlad-queries.h5" \
        --db-descriptors "$S/global-vlad-mapping.h5" --num "$NUM_RETRIEVED"
    vloc evaluate retrieval "$S/pairs-query.txt" --ground-truth "$S/ground_truth.txt" \
        --db-ground-truth "$S/reference" --queries "$S/query_list.txt" --out-json "$S/retrieval.json"
    echo "7-Scenes redkitchen, $SPLIT split"
    vloc match features "$S/pairs-mapping.txt" "$OUT/feats-$FEATURES.h5" "$S/matches-mapping.h5" --conf "$MATCHER"
    vloc match features "$S/pairs-query.txt" "$OUT/feats-$FEATURES.h5" "$S/matches-query.h5" --conf "$MATCHER"
    vloc triangulate "$S/reference" "$IMAGES" "$S/pairs-mapping.txt" "$OUT/feats-$FEATURES.h5" "$S/matches-mapping.h5" \
        "$S/model"
    vloc localize "$S/model" "$S/queries.txt" "$S/pairs-query.txt" "$OUT/feats-$FEATURES.h5" "$S/matches-query.h5" \
        "$S/results-retrieval.txt"
    # Retrieval finds the place, the first pose finds the views that overlap the query most.
    vloc pairs from-poses "$S/pairs-pose.txt" --model "$S/model" --query-poses "$S/results-retrieval.txt" \
        --num "$POSE_NEIGHBOURS" --max-angle 30
    sort -u "$S/pairs-query.txt" "$S/pairs-pose.txt" > "$S/pairs-query-pose.txt"
    vloc match features "$S/pairs-query-pose.txt" "$OUT/feats-$FEATURES.h5" "$S/matches-query.h5" --conf "$MATCHER"
    vloc localize "$S/model" "$S/queries.txt" "$S/pairs-query-pose.txt" "$OUT/feats-$FEATURES.h5" \
        "$S/matches-query.h5" "$S/results.txt"
    vloc evaluate poses "$S/results.txt" "$S/ground_truth.txt" --dataset-json "$S/dataset.json" \
        --out-json "$S/evaluation.json" --plot "$S/errors.png"
    vloc evaluate consistency "$S/model" "$S/queries.txt" "$S/pairs-query-pose.txt" "$OUT/feats-$FEATURES.h5" \
        "$S/matches-query.h5" "$S/results.txt" "$S/ground_truth.txt" --dataset-json "$S/dataset.json" \
        --out-json "$S/consistency.json"
done
