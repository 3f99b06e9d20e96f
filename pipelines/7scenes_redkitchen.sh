#!/usr/bin/env bash
# 7-Scenes redkitchen subset, both splits: triangulate the mapping frames from their known poses
# (20 nearest cameras per frame), match each query with its top-10 mapping frames by VLAD retrieval,
# localize; then match it with the 10 mapping frames nearest that first pose too, localize again, evaluate.
# Usage: pipelines/7scenes_redkitchen.sh [OUT] [SPLITS]   (SPLITS default "easy hard"; data: $DATA or ../shared/data)
# QUERY_PAIRS=exhaustive matches every query with every mapping frame instead (hloc's protocol for this table);
# NUM_RETRIEVED=K changes the 10; POSE_NEIGHBOURS=K the second 10 (0: no second pass); NUM_QUERIES=N keeps the
# first N queries of each split (for a quick run). LBR=1 (with QUERY_PAIRS=retrieval) also localizes by global
# instance recognition at a budget of NUM_RETRIEVED pairs, beside hierarchical localization with the top-NUM_RETRIEVED
# pairs alone (the first pass: evaluation-retrieval.json).
set -euo pipefail
OUT=${1:-outputs/7scenes_redkitchen}
SPLITS=${2:-easy hard}
QUERY_PAIRS=${QUERY_PAIRS:-retrieval}
NUM_RETRIEVED=${NUM_RETRIEVED:-10}
POSE_NEIGHBOURS=${POSE_NEIGHBOURS:-10}
LBR=${LBR:-0}
if [ "$LBR" = 1 ] && [ "$QUERY_PAIRS" != retrieval ]; then
    echo "LBR=1 needs QUERY_PAIRS=retrieval (its groups rank images by VLAD similarity)" >&2
    exit 2
fi
DATA=${DATA:-$(cd "$(dirname "$0")/../.." && pwd)/shared/data}
ROOT="$DATA/7scenes_redkitchen_subset"
IMAGES="$ROOT/frames"
mkdir -p "$OUT"
source "$(dirname "$0")/lib.sh"

for SPLIT in $SPLITS; do
    S="$OUT/$SPLIT"
    vloc prepare 7scenes "$S" --root "$ROOT" --split "$SPLIT"
    if [ -n "${NUM_QUERIES:-}" ]; then
        head -n "$NUM_QUERIES" "$S/query_list.txt" > "$S/query_subset.txt" && mv "$S/query_subset.txt" "$S/query_list.txt"
        grep -F -f "$S/query_list.txt" "$S/queries.txt" > "$S/queries_subset.txt" && mv "$S/queries_subset.txt" "$S/queries.txt"
    fi
    # Features are shared by both splits: extraction skips the images already in the file.
    vloc extract "$IMAGES" "$OUT/feats-sift.h5" --conf sift --list <(cat "$S/mapping.txt" "$S/query_list.txt")
    vloc pairs from-poses "$S/pairs-mapping.txt" --model "$S/reference" --num 20
    query_pairs "$S" "$IMAGES"
    echo "7-Scenes redkitchen, $SPLIT split"
    map_localize_evaluate "$S" "$IMAGES" "$OUT/feats-sift.h5"
    if [ "$LBR" = 1 ]; then
        echo "7-Scenes redkitchen, $SPLIT split: hierarchical localization, VLAD top-$NUM_RETRIEVED alone"
        vloc evaluate "$(first_pass_results "$S")" "$S/ground_truth.txt" --dataset-json "$S/dataset.json" \
            --out-json "$S/evaluation-retrieval.json"
        echo "7-Scenes redkitchen, $SPLIT split: LBR, at most $NUM_RETRIEVED pairs per query"
        lbr_localize_evaluate "$S" "$IMAGES" "$OUT/feats-sift.h5" "$NUM_RETRIEVED"
    fi
done
