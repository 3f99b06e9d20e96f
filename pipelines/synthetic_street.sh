#!/usr/bin/env bash
# Synthetic street (LBR): a day map of many textured buildings, night queries; localization by global instance
# recognition (vloc's generated instance labels, the weight-free vote recognizer, instance-guided groups, instance-wise
# matching, early exit) against hierarchical localization with VLAD top-k retrieval at the same pair budget.
# Usage: pipelines/synthetic_street.sh [OUT]   (default outputs/synthetic_street; no dataset needed)
# NUM_CAMERAS, NUM_BUILDINGS, WIDTH/HEIGHT/FOCAL size the scene; BUDGET is the pairs per query of both methods.
# synthetic_street_seg.sh then also trains and runs the segmentation recognizer.
set -euo pipefail
OUT=${1:-outputs/synthetic_street}
NUM_CAMERAS=${NUM_CAMERAS:-80}
NUM_BUILDINGS=${NUM_BUILDINGS:-16}
WIDTH=${WIDTH:-480}
HEIGHT=${HEIGHT:-360}
FOCAL=${FOCAL:-360}
BUDGET=${BUDGET:-10}
mkdir -p "$OUT"

vloc synth "$OUT/scene" --num-cameras "$NUM_CAMERAS" --num-buildings "$NUM_BUILDINGS" --conditions day,night \
    --width "$WIDTH" --height "$HEIGHT" --focal "$FOCAL" --seed 3
vloc prepare synthetic "$OUT" --root "$OUT/scene" --condition night
IMAGES="$OUT/scene/images"

# The day map
vloc extract local "$IMAGES" "$OUT/feats-sift.h5" --conf sift --list <(cat "$OUT/mapping.txt" "$OUT/query_list.txt")
vloc pairs from-poses "$OUT/pairs-mapping.txt" --model "$OUT/reference" --num 12
vloc match features "$OUT/pairs-mapping.txt" "$OUT/feats-sift.h5" "$OUT/matches-mapping.h5" --conf nn-ratio
vloc triangulate "$OUT/reference" "$IMAGES" "$OUT/pairs-mapping.txt" "$OUT/feats-sift.h5" "$OUT/matches-mapping.h5" \
    "$OUT/model"
vloc extract global "$IMAGES" "$OUT/global-vlad-mapping.h5" --conf vlad --list "$OUT/mapping.txt" \
    --local-features "$OUT/feats-sift.h5"  # VLAD of the RootSIFT extracted above
vloc extract global "$IMAGES" "$OUT/global-vlad-queries.h5" --conf vlad --list "$OUT/query_list.txt" \
    --set vocabulary="$OUT/global-vlad-mapping.vocab.npz" --local-features "$OUT/feats-sift.h5"

echo "hierarchical localization: VLAD top-$BUDGET"
vloc pairs retrieval "$OUT/pairs-retrieval.txt" --descriptors "$OUT/global-vlad-queries.h5" \
    --db-descriptors "$OUT/global-vlad-mapping.h5" --num "$BUDGET"
vloc match features "$OUT/pairs-retrieval.txt" "$OUT/feats-sift.h5" "$OUT/matches-retrieval.h5" --conf nn-ratio
vloc localize "$OUT/model" "$OUT/queries.txt" "$OUT/pairs-retrieval.txt" "$OUT/feats-sift.h5" \
    "$OUT/matches-retrieval.h5" "$OUT/results-hloc.txt"
vloc evaluate poses "$OUT/results-hloc.txt" "$OUT/ground_truth.txt" --dataset-json "$OUT/dataset.json" \
    --out-json "$OUT/evaluation-hloc.json"

echo "LBR: global instance recognition (vote), at most $BUDGET pairs per query, early exit"
vloc instances build "$OUT/model" "$OUT/instances.h5"
vloc recognize "$OUT/instances.h5" "$IMAGES" "$OUT/feats-sift.h5" "$OUT/recognitions.h5" \
    --queries "$OUT/query_list.txt" --conf vote
vloc pairs instances "$OUT/pairs-instances.txt" --recognitions "$OUT/recognitions.h5" --instances "$OUT/instances.h5" \
    --descriptors "$OUT/global-vlad-queries.h5" --db-descriptors "$OUT/global-vlad-mapping.h5" --max-pairs "$BUDGET"
vloc localize "$OUT/model" "$OUT/queries.txt" "$OUT/pairs-instances.txt" "$OUT/feats-sift.h5" "$OUT/matches-lbr.h5" \
    "$OUT/results-lbr.txt" --method lbr --labels "$OUT/instances.h5" --labels "$OUT/recognitions.h5"
vloc evaluate poses "$OUT/results-lbr.txt" "$OUT/ground_truth.txt" --dataset-json "$OUT/dataset.json" \
    --out-json "$OUT/evaluation-lbr.json"
