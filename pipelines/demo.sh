#!/usr/bin/env bash
# Demo on a synthetic scene vloc renders itself: map from day images, localize night images, print the errors.
# Usage: pipelines/demo.sh [OUT]   (default outputs/demo; no dataset needed)
# QUERY_PAIRS=retrieval NUM_RETRIEVED=K matches each night query with its top K day images by VLAD.
set -euo pipefail
OUT=${1:-outputs/demo}
NUM_CAMERAS=${NUM_CAMERAS:-40}
QUERY_PAIRS=${QUERY_PAIRS:-exhaustive}  # 20 mapping images: retrieval would save little
NUM_RETRIEVED=${NUM_RETRIEVED:-4}
mkdir -p "$OUT"
source "$(dirname "$0")/lib.sh"

vloc synth "$OUT/scene" --num-cameras "$NUM_CAMERAS" --conditions day,night --seed 0
vloc prepare synthetic "$OUT" --root "$OUT/scene" --condition night
IMAGES="$OUT/scene/images"

vloc extract "$IMAGES" "$OUT/feats-sift.h5" --conf sift --list <(cat "$OUT/mapping.txt" "$OUT/query_list.txt")
vloc pairs exhaustive "$OUT/pairs-mapping.txt" --list "$OUT/mapping.txt"
query_pairs "$OUT" "$IMAGES"
map_localize_evaluate "$OUT" "$IMAGES" "$OUT/feats-sift.h5"
