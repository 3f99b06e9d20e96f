#!/usr/bin/env bash
# 7-Scenes redkitchen subset, both splits: 7scenes_redkitchen.sh, then localization by global instance recognition
# (LBR: vloc's instance labels from the triangulated model, the weight-free vote recognizer, instance-guided groups of
# at most 10 pairs per query, instance-wise matching, early exit) beside hierarchical localization with the top-10
# pairs alone (the first pass of 7scenes_redkitchen.sh): evaluation-lbr.json against evaluation-retrieval.json.
# Usage: pipelines/7scenes_redkitchen_lbr.sh [OUT] [SPLITS]   (SPLITS default "easy hard"; data: $DATA or
# ../shared/data)
# NUM_RETRIEVED=K changes the 10 (retrieval and LBR's budget alike); POSE_NEIGHBOURS and NUM_QUERIES as in
# 7scenes_redkitchen.sh.
# FEATURES=aliked MATCHER=lightglue runs it with learned features and matching.
set -euo pipefail
OUT=${1:-outputs/7scenes_redkitchen_lbr}
FEATURES=${FEATURES:-sift}  # local features: sift, or aliked / disk (learned, README "Learned features")
MATCHER=${MATCHER:-nn-ratio}  # nn-ratio, or lightglue / lightglue-disk for aliked / disk
SPLITS=${2:-easy hard}
NUM_RETRIEVED=${NUM_RETRIEVED:-10}
DATA=${DATA:-$(cd "$(dirname "$0")/../.." && pwd)/shared/data}
IMAGES="$DATA/7scenes_redkitchen_subset/frames"

FEATURES="$FEATURES" MATCHER="$MATCHER" NUM_RETRIEVED="$NUM_RETRIEVED" DATA="$DATA" \
    bash "$(dirname "$0")/7scenes_redkitchen.sh" "$OUT" "$SPLITS"

for SPLIT in $SPLITS; do
    S="$OUT/$SPLIT"
    echo "7-Scenes redkitchen, $SPLIT split: hierarchical localization, VLAD top-$NUM_RETRIEVED alone"
    vloc evaluate poses "$S/results-retrieval.txt" "$S/ground_truth.txt" --dataset-json "$S/dataset.json" \
        --out-json "$S/evaluation-retrieval.json"
    echo "7-Scenes redkitchen, $SPLIT split: LBR, at most $NUM_RETRIEVED pairs per query"
    vloc instances build "$S/model" "$S/instances.h5"
    vloc recognize "$S/instances.h5" "$IMAGES" "$OUT/feats-$FEATURES.h5" "$S/recognitions.h5" \
        --queries "$S/query_list.txt" --conf vote
    vloc pairs instances "$S/pairs-instances.txt" --recognitions "$S/recognitions.h5" --instances "$S/instances.h5" \
        --descriptors "$S/global-vlad-queries.h5" --db-descriptors "$S/global-vlad-mapping.h5" \
        --max-pairs "$NUM_RETRIEVED"
    vloc localize "$S/model" "$S/queries.txt" "$S/pairs-instances.txt" "$OUT/feats-$FEATURES.h5" "$S/matches-lbr.h5" \
        "$S/results-lbr.txt" --method lbr --labels "$S/instances.h5" --labels "$S/recognitions.h5"
    vloc evaluate poses "$S/results-lbr.txt" "$S/ground_truth.txt" --dataset-json "$S/dataset.json" \
        --out-json "$S/evaluation-lbr.json"
done
