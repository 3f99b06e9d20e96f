#!/usr/bin/env bash
# hloc's Sacre Coeur photos: structure from motion from scratch on all 10 images, then leave-one-out:
# each image is localized against a model triangulated from the other nine (with their SfM poses),
# and its pose is compared with the full reconstruction (errors in the SfM model's arbitrary units).
# Usage: pipelines/sacre_coeur.sh [OUT]   (data: $DATA or ../shared/data beside the repository)
set -euo pipefail
OUT=${1:-outputs/sacre_coeur}
DATA=${DATA:-$(cd "$(dirname "$0")/../.." && pwd)/shared/data}
IMAGES="$DATA/hloc_sacre_coeur/mapping"
mkdir -p "$OUT"

vloc extract local "$IMAGES" "$OUT/feats-sift.h5" --conf sift-colmap  # COLMAP keeps coarse-scale features: more matches across viewpoints
vloc pairs exhaustive "$OUT/pairs-exhaustive.txt" --features "$OUT/feats-sift.h5"
vloc match features "$OUT/pairs-exhaustive.txt" "$OUT/feats-sift.h5" "$OUT/matches.h5" --conf nn-ratio
vloc sfm "$IMAGES" "$OUT/pairs-exhaustive.txt" "$OUT/feats-sift.h5" "$OUT/matches.h5" "$OUT/sfm"

: > "$OUT/results.txt.parts"
for IMAGE in "$IMAGES"/*.jpg; do
    NAME=$(basename "$IMAGE")
    L="$OUT/leave_one_out/${NAME%.*}"
    mkdir -p "$L"
    echo "$NAME" > "$L/query.txt"
    vloc prepare colmap "$L" --root "$OUT/sfm" --images "$IMAGES" --queries "$L/query.txt"
    vloc pairs exhaustive "$L/pairs-mapping.txt" --list "$L/mapping.txt"
    vloc pairs exhaustive "$L/pairs-query.txt" --list "$L/query_list.txt" --ref-list "$L/mapping.txt"
    vloc triangulate "$L/reference" "$IMAGES" "$L/pairs-mapping.txt" "$OUT/feats-sift.h5" "$OUT/matches.h5" "$L/model"
    vloc localize "$L/model" "$L/queries.txt" "$L/pairs-query.txt" "$OUT/feats-sift.h5" "$OUT/matches.h5" "$L/results.txt"
    cat "$L/results.txt" >> "$OUT/results.txt.parts"
done
mv "$OUT/results.txt.parts" "$OUT/results.txt"
echo "Sacre Coeur, leave-one-out localization against the full SfM model (units of the SfM model)"
vloc evaluate poses "$OUT/results.txt" "$OUT/sfm" --model-units --threshold 0.05,1 --threshold 0.25,2 --threshold 1,5 \
    --out-json "$OUT/evaluation.json" --plot "$OUT/errors.png"
