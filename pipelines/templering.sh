#!/usr/bin/env bash
# Middlebury templeRing: triangulate the 24 mapping views from their known poses, match each of the 23 queries with
# every mapping view (24 views: retrieval saves little, see templering_retrieval.sh), localize, evaluate (over all and
# per ring of the gantry) and check how well the ground truth explains the query matches; then localize again by
# sparse-to-dense matching (dense SIFT computed on the fly) and evaluate that too.
# Usage: pipelines/templering.sh [OUT]   (default outputs/templering; data: $DATA or ../shared/data beside the repo)
# FEATURES=aliked MATCHER=lightglue runs it with learned features and matching.
set -euo pipefail
OUT=${1:-outputs/templering}
FEATURES=${FEATURES:-sift}  # local features: sift, or aliked / disk (learned, README "Learned features")
MATCHER=${MATCHER:-nn-ratio}  # nn-ratio, or lightglue / lightglue-disk for aliked / disk
DATA=${DATA:-$(cd "$(dirname "$0")/../.." && pwd)/shared/data}
ROOT="$DATA/middlebury_templeRing"
IMAGES="$ROOT/images"
mkdir -p "$OUT"

vloc prepare templering "$OUT" --root "$ROOT"
vloc extract local "$IMAGES" "$OUT/feats-$FEATURES.h5" --conf "$FEATURES"
vloc pairs exhaustive "$OUT/pairs-mapping.txt" --list "$OUT/mapping.txt"
vloc pairs exhaustive "$OUT/pairs-query.txt" --list "$OUT/query_list.txt" --ref-list "$OUT/mapping.txt"
vloc match features "$OUT/pairs-mapping.txt" "$OUT/feats-$FEATURES.h5" "$OUT/matches-mapping.h5" --conf "$MATCHER"
vloc match features "$OUT/pairs-query.txt" "$OUT/feats-$FEATURES.h5" "$OUT/matches-query.h5" --conf "$MATCHER"
vloc triangulate "$OUT/reference" "$IMAGES" "$OUT/pairs-mapping.txt" "$OUT/feats-$FEATURES.h5" "$OUT/matches-mapping.h5" \
    "$OUT/model"
vloc localize "$OUT/model" "$OUT/queries.txt" "$OUT/pairs-query.txt" "$OUT/feats-$FEATURES.h5" "$OUT/matches-query.h5" \
    "$OUT/results.txt"
vloc evaluate poses "$OUT/results.txt" "$OUT/ground_truth.txt" --dataset-json "$OUT/dataset.json" \
    --out-json "$OUT/evaluation.json" --plot "$OUT/errors.png"
vloc evaluate consistency "$OUT/model" "$OUT/queries.txt" "$OUT/pairs-query.txt" "$OUT/feats-$FEATURES.h5" \
    "$OUT/matches-query.h5" "$OUT/results.txt" "$OUT/ground_truth.txt" --dataset-json "$OUT/dataset.json" \
    --out-json "$OUT/consistency.json"

# Sparse-to-dense matching: map keypoints searched for in each query's dense features, then PnP with a tighter RANSAC
# threshold (the hits are sub-pixel).
echo "templeRing, sparse-to-dense matching (dsift) + PnP"
vloc match sparse-to-dense "$OUT/pairs-query.txt" "$OUT/model" "$OUT/feats-s2d.h5" "$OUT/matches-s2d.h5" \
    --images "$IMAGES"
vloc localize "$OUT/model" "$OUT/queries.txt" "$OUT/pairs-query.txt" "$OUT/feats-s2d.h5" "$OUT/matches-s2d.h5" \
    "$OUT/results-s2d.txt" --set ransac_max_error=4
vloc evaluate poses "$OUT/results-s2d.txt" "$OUT/ground_truth.txt" --dataset-json "$OUT/dataset.json" \
    --out-json "$OUT/evaluation-s2d.json"
