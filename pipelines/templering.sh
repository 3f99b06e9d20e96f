#!/usr/bin/env bash
# Middlebury templeRing: triangulate the 24 mapping views from their known poses, localize the 23 others.
# Usage: pipelines/templering.sh [OUT]   (data: $DATA or ../shared/data beside the repository)
# Queries are matched with every mapping view (24 views: retrieval saves little); QUERY_PAIRS=retrieval
# NUM_RETRIEVED=K matches each with its top K by VLAD instead.
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
