#!/usr/bin/env bash
# Middlebury templeRing: triangulate the 24 mapping views from their known poses, localize the 23 others.
# Usage: pipelines/templering.sh [OUT]   (data: $DATA or ../shared/data beside the repository)
# Queries are matched with every mapping view (24 views: retrieval saves little); QUERY_PAIRS=retrieval
# NUM_RETRIEVED=K matches each with its top K by VLAD instead. Ends with sparse-to-dense matching (see below).
set -euo pipefail
OUT=${1:-outputs/templering}
DATA=${DATA:-$(cd "$(dirname "$0")/../.." && pwd)/shared/data}
ROOT="$DATA/middlebury_templeRing"
IMAGES="$ROOT/images"
QUERY_PAIRS=${QUERY_PAIRS:-exhaustive}
NUM_RETRIEVED=${NUM_RETRIEVED:-4}
mkdir -p "$OUT"
source "$(dirname "$0")/lib.sh"

vloc prepare templering "$OUT" --root "$ROOT"
vloc extract "$IMAGES" "$OUT/feats-sift.h5" --conf sift
vloc pairs exhaustive "$OUT/pairs-mapping.txt" --list "$OUT/mapping.txt"
query_pairs "$OUT" "$IMAGES"
map_localize_evaluate "$OUT" "$IMAGES" "$OUT/feats-sift.h5"

# Sparse-to-dense matching (dense SIFT computed on the fly): map keypoints searched for in each query's dense
# features, then PnP with a tighter RANSAC threshold (the hits are sub-pixel). SPARSE_TO_DENSE=0 skips it.
if [ "${SPARSE_TO_DENSE:-1}" = 1 ]; then
    echo "templeRing, sparse-to-dense matching (dsift) + PnP"
    vloc match "$OUT/pairs-query.txt" "$OUT/feats-s2d.h5" "$OUT/matches-s2d.h5" --matcher sparse-to-dense \
        --model "$OUT/model" --images "$IMAGES"
    vloc localize "$OUT/model" "$OUT/queries.txt" "$OUT/pairs-query.txt" "$OUT/feats-s2d.h5" "$OUT/matches-s2d.h5" \
        "$OUT/results-s2d.txt" --set ransac_max_error=4
    vloc evaluate "$OUT/results-s2d.txt" "$OUT/ground_truth.txt" --dataset-json "$OUT/dataset.json" \
        --out-json "$OUT/evaluation-s2d.json"
fi
