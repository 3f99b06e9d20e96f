#!/usr/bin/env bash
# Middlebury templeRing with retrieval: as templering.sh, but each of the 23 queries is matched with only its top
# NUM_RETRIEVED mapping views by VLAD (vocabulary learnt on the 24 mapping views), not with all of them; the retrieval
# itself is scored too (recall@k of views within 0.5 m and 30 deg, retrieval.json). No sparse-to-dense pass.
# Usage: pipelines/templering_retrieval.sh [OUT]   (default outputs/templering_retrieval; data: $DATA or ../shared/data)
# NUM_RETRIEVED=K: mapping views per query (default 4).
set -euo pipefail
OUT=${1:-outputs/templering_retrieval}
NUM_RETRIEVED=${NUM_RETRIEVED:-4}
DATA=${DATA:-$(cd "$(dirname "$0")/../.." && pwd)/shared/data}
ROOT="$DATA/middlebury_templeRing"
IMAGES="$ROOT/images"
mkdir -p "$OUT"

vloc prepare templering "$OUT" --root "$ROOT"
vloc extract local "$IMAGES" "$OUT/feats-sift.h5" --conf sift
vloc pairs exhaustive "$OUT/pairs-mapping.txt" --list "$OUT/mapping.txt"
vloc extract global "$IMAGES" "$OUT/global-vlad-mapping.h5" --conf vlad --list "$OUT/mapping.txt" \
    --local-features "$OUT/feats-sift.h5"  # VLAD of the RootSIFT extracted above
vloc extract global "$IMAGES" "$OUT/global-vlad-queries.h5" --conf vlad --list "$OUT/query_list.txt" \
    --set vocabulary="$OUT/global-vlad-mapping.vocab.npz" --local-features "$OUT/feats-sift.h5"
vloc pairs retrieval "$OUT/pairs-query.txt" --descriptors "$OUT/global-vlad-queries.h5" \
    --db-descriptors "$OUT/global-vlad-mapping.h5" --num "$NUM_RETRIEVED"
vloc evaluate retrieval "$OUT/pairs-query.txt" --ground-truth "$OUT/ground_truth.txt" \
    --db-ground-truth "$OUT/reference" --queries "$OUT/query_list.txt" --out-json "$OUT/retrieval.json"
vloc match features "$OUT/pairs-mapping.txt" "$OUT/feats-sift.h5" "$OUT/matches-mapping.h5" --conf nn-ratio
vloc match features "$OUT/pairs-query.txt" "$OUT/feats-sift.h5" "$OUT/matches-query.h5" --conf nn-ratio
vloc triangulate "$OUT/reference" "$IMAGES" "$OUT/pairs-mapping.txt" "$OUT/feats-sift.h5" "$OUT/matches-mapping.h5" \
    "$OUT/model"
vloc localize "$OUT/model" "$OUT/queries.txt" "$OUT/pairs-query.txt" "$OUT/feats-sift.h5" "$OUT/matches-query.h5" \
    "$OUT/results.txt"
vloc evaluate poses "$OUT/results.txt" "$OUT/ground_truth.txt" --dataset-json "$OUT/dataset.json" \
    --out-json "$OUT/evaluation.json" --plot "$OUT/errors.png"
vloc evaluate consistency "$OUT/model" "$OUT/queries.txt" "$OUT/pairs-query.txt" "$OUT/feats-sift.h5" \
    "$OUT/matches-query.h5" "$OUT/results.txt" "$OUT/ground_truth.txt" --dataset-json "$OUT/dataset.json" \
    --out-json "$OUT/consistency.json"
