#!/usr/bin/env bash
# Demo on a synthetic scene vloc renders itself: map from day images, localize night images, print the errors and how
# well the ground truth explains the query matches.
# Usage: pipelines/demo.sh [OUT]   (default outputs/demo; no dataset needed)
# NUM_CAMERAS: cameras of the scene (default 40: 20 day mapping images, 20 night queries, each matched with every
# mapping image).
# FEATURES=aliked MATCHER=lightglue runs it with learned features and matching.
set -euo pipefail
OUT=${1:-outputs/demo}
FEATURES=${FEATURES:-sift}  # local features: sift, or aliked / disk (learned, README "Learned features")
MATCHER=${MATCHER:-nn-ratio}  # nn-ratio, or lightglue / lightglue-disk for aliked / disk
NUM_CAMERAS=${NUM_CAMERAS:-40}
mkdir -p "$OUT"

vloc synth "$OUT/scene" --num-cameras "$NUM_CAMERAS" --conditions day,night --seed 0
vloc prepare synthetic "$OUT" --root "$OUT/scene" --condition night
IMAGES="$OUT/scene/images"

vloc extract local "$IMAGES" "$OUT/feats-$FEATURES.h5" --conf "$FEATURES" \
    --list <(cat "$OUT/mapping.txt" "$OUT/query_list.txt")
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
