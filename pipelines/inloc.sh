#!/usr/bin/env bash
# InLoc (visuallocalization.net): localize the iPhone 7 queries against the database cutouts with the 3D points of
# the building's scans instead of a triangulated model (as hloc's localize_inloc): every database keypoint that a
# query matches takes its point from its cutout's XYZcut, placed in the building by the scan's alignment. Writes the
# file the evaluation server takes (InLoc_vloc_sift-nn-ratio.txt, the queries named by file name, cam_from_world);
# query poses are not public: there is no local evaluation. Then, when the learned weights are installed, the same
# with ALIKED + LightGlue (InLoc_vloc_aliked-lightglue.txt).
# Usage: pipelines/inloc.sh [OUT] [DATASET_ROOT]   (default outputs/inloc and datasets/inloc)
# DATASET_ROOT holds InLoc as published (image names are relative to it, as in hloc's pairs files):
#   database/cutouts/<floor>/<scan>/DUC_cutout_<scan>_<yaw>_<pitch>.jpg (1600x1200) and .jpg.mat (XYZcut)
#   database/alignments/<floor>/transformations/DUC_trans_<scan>.txt (lines 8-11: P_after_GICP, scan -> building)
#   query/iphone7/IMG_<number>.JPG (4032x3024)
# vloc prepare inloc recovers each cutout's intrinsics and pose from its XYZcut (a pinhole view from its scan's
# origin; it reads every .jpg.mat once) and gives each query InLoc's 28 mm focal length.
# PAIRS=file takes the query pairs from a file (hloc's pairs-query-netvlad40-temporal.txt as it is); default: the
# NUM_RETRIEVED (40) cutouts most similar to each query by VLAD (vocabulary learnt on the cutouts).
# RANSAC_MAX_ERROR (default 48 px, hloc's for InLoc's 4032 px queries); LEARNED=0 skips the learned configuration
# (default: run it when `vloc weights aliked lightglue` passes).
set -euo pipefail
OUT=${1:-outputs/inloc}
ROOT=${2:-datasets/inloc}
NUM_RETRIEVED=${NUM_RETRIEVED:-40}
RANSAC_MAX_ERROR=${RANSAC_MAX_ERROR:-48}
mkdir -p "$OUT"

vloc prepare inloc "$OUT" --root "$ROOT"
# SIFT at 1600 px: the cutouts' own size; the 4032x3024 queries are shrunk to 1600x1200 (keypoints are stored in the
# pixels of the full image, as the intrinsics are).
vloc extract local "$ROOT" "$OUT/feats-sift.h5" --conf sift --set preprocessing.resize_max=1600 \
    --list <(cat "$OUT/mapping.txt" "$OUT/query_list.txt")
if [ -n "${PAIRS:-}" ]; then
    PAIRS_QUERY=$PAIRS
else
    # VLAD reads its RootSIFT from feats-sift.h5 where that holds an image at VLAD's size.
    vloc extract global "$ROOT" "$OUT/global-vlad-mapping.h5" --conf vlad --list "$OUT/mapping.txt" \
        --local-features "$OUT/feats-sift.h5"
    vloc extract global "$ROOT" "$OUT/global-vlad-queries.h5" --conf vlad --list "$OUT/query_list.txt" \
        --set vocabulary="$OUT/global-vlad-mapping.vocab.npz" --local-features "$OUT/feats-sift.h5"
    PAIRS_QUERY="$OUT/pairs-query-vlad$NUM_RETRIEVED.txt"
    vloc pairs retrieval "$PAIRS_QUERY" --descriptors "$OUT/global-vlad-queries.h5" \
        --db-descriptors "$OUT/global-vlad-mapping.h5" --num "$NUM_RETRIEVED"
fi

# Local features and matcher of each configuration: weight-free first, learned where its weights are installed.
CONFIGURATIONS="sift:nn-ratio"
if [ "${LEARNED:-auto}" != 0 ] && vloc weights aliked lightglue > /dev/null 2>&1; then
    CONFIGURATIONS="$CONFIGURATIONS aliked:lightglue"
fi
for CONFIGURATION in $CONFIGURATIONS; do
    FEATURES=${CONFIGURATION%:*}
    MATCHER=${CONFIGURATION#*:}
    C="$FEATURES-$MATCHER"
    echo "InLoc, $FEATURES + $MATCHER"
    vloc extract local "$ROOT" "$OUT/feats-$FEATURES.h5" --conf "$FEATURES" --set preprocessing.resize_max=1600 \
        --list <(cat "$OUT/mapping.txt" "$OUT/query_list.txt")
    vloc match features "$PAIRS_QUERY" "$OUT/feats-$FEATURES.h5" "$OUT/matches-query-$C.h5" --conf "$MATCHER"
    # Only the matched keypoints of the paired cutouts get points: all that localization reads.
    vloc points-from-depth "$OUT/reference" "$OUT/feats-$FEATURES.h5" "$OUT/model-$C" --xyz "$ROOT" --layout inloc \
        --pairs "$PAIRS_QUERY" --matches "$OUT/matches-query-$C.h5"
    # Each point is seen by one cutout: covisibility clustering (off by default) would split every cutout apart. The
    # submission needs a pose for every query: as in hloc's submissions, a query PnP cannot localize gets the pose of
    # its top matched cutout (marked as a fallback in the results log).
    vloc localize "$OUT/model-$C" "$OUT/queries.txt" "$PAIRS_QUERY" "$OUT/feats-$FEATURES.h5" \
        "$OUT/matches-query-$C.h5" "$OUT/results-$C.txt" --set ransac_max_error="$RANSAC_MAX_ERROR" \
        --set fallback_to_top_image=true
    vloc evaluate submission "$OUT/results-$C.txt" "$OUT/dataset.json" "$OUT/InLoc_vloc_$C.txt"
done
