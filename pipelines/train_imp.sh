#!/usr/bin/env bash
# Train the IMP matcher for SIFT on real photographs whose ground truth comes from COLMAP models: the KITTI snippet
# triangulated from its known poses, and hloc's Sacre Coeur photos by SfM (keypoints observing one 3D point match);
# and on the same photographs warped by random homographies (every keypoint labelled). IMP is evaluated on neither
# (templeRing, 7-Scenes). This run made the shipped vloc/models/weights/imp-sift.pt (9 iterations, 8 epochs, about
# 28 minutes on 2 cores). SYNTHETIC=1 adds a vloc synth street by day and night (rendered depth).
# Usage: pipelines/train_imp.sh [OUT] [EPOCHS]   (data: $DATA or ../shared/data)
# IMP_SET passes further --set overrides to `vloc train matcher`, HOMOGRAPHY_SET to `vloc synth-homographies`.
# Then: vloc match features PAIRS FEATURES MATCHES --conf imp --set weights=OUT/run/imp.pt
set -euo pipefail
OUT=${1:-outputs/imp-train}
EPOCHS=${2:-8}
DATA=${DATA:-$(cd "$(dirname "$0")/../.." && pwd)/shared/data}
KITTI="$DATA/kitti_odometry_seq1"
SACRE_COEUR="$DATA/hloc_sacre_coeur/mapping"
FEATURES="$OUT/feats-sift.h5"  # every training image's keypoints, in one file
mkdir -p "$OUT/sacre_coeur"

vloc prepare kitti "$OUT/kitti" --root "$KITTI"
vloc extract local "$KITTI/image_l" "$FEATURES" --conf sift
vloc pairs from-poses "$OUT/kitti/pairs-mapping.txt" --model "$OUT/kitti/reference" --num 20
vloc match features "$OUT/kitti/pairs-mapping.txt" "$FEATURES" "$OUT/kitti/matches-mapping.h5" --conf nn-ratio
vloc triangulate "$OUT/kitti/reference" "$KITTI/image_l" "$OUT/kitti/pairs-mapping.txt" "$FEATURES" \
    "$OUT/kitti/matches-mapping.h5" "$OUT/kitti/model"

vloc extract local "$SACRE_COEUR" "$FEATURES" --conf sift
find "$SACRE_COEUR" -name '*.jpg' -printf '%f\n' | sort > "$OUT/sacre_coeur/images.txt"
vloc pairs exhaustive "$OUT/sacre_coeur/pairs.txt" --list "$OUT/sacre_coeur/images.txt"
vloc match features "$OUT/sacre_coeur/pairs.txt" "$FEATURES" "$OUT/sacre_coeur/matches.h5" --conf nn-ratio
vloc sfm "$SACRE_COEUR" "$OUT/sacre_coeur/pairs.txt" "$FEATURES" "$OUT/sacre_coeur/matches.h5" "$OUT/sacre_coeur/sfm"

# the same photographs warped by random homographies: exact ground truth for every keypoint, the dustbin included
# shellcheck disable=SC2086  # HOMOGRAPHY_SET is a list of --set arguments
vloc synth-homographies "$OUT/homographies" "$KITTI/image_l" "$SACRE_COEUR" ${HOMOGRAPHY_SET:-}
vloc extract local "$OUT/homographies/images" "$FEATURES" --conf sift

SOURCES=(--model "$OUT/kitti/model" --model "$OUT/sacre_coeur/sfm" --homographies "$OUT/homographies")
if [ -n "${SYNTHETIC:-}" ]; then
    vloc synth "$OUT/scene" --seed 0 --num-cameras 48 --conditions day,night
    vloc extract local "$OUT/scene/images" "$FEATURES" --conf sift
    SOURCES+=(--synthetic "$OUT/scene")
fi
# shellcheck disable=SC2086  # IMP_SET is a list of --set arguments
vloc train matcher "$OUT/run" "${SOURCES[@]}" --features "$FEATURES" --set epochs="$EPOCHS" ${IMP_SET:-}
echo "checkpoint: $OUT/run/imp.pt (copy it to vloc/models/weights/imp-sift.pt to ship it)"
