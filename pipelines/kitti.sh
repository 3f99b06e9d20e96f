#!/usr/bin/env bash
# KITTI odometry, one sequence (default: the kitti_odometry_seq1 snippet in ../shared/data): even frames map, odd
# frames are queries. Triangulate the mapping frames from their ground-truth poses (20 nearest cameras per frame),
# match each query with every mapping frame, localize, evaluate; then refine the poses feature-metrically on dense
# SIFT and on GN-Net features, and evaluate those too (evaluation-dsift.json, evaluation-gnnet.json).
# Usage: pipelines/kitti.sh [OUT] [SEQUENCE]   (SEQUENCE: a folder with image_0/ or image_l/, calib.txt and poses;
# default $DATA/kitti_odometry_seq1, DATA defaulting to ../shared/data beside the repository)
# Every query is paired with every mapping frame, as the protocol of ../shared/docs/benchmarks.md; for a whole
# sequence (thousands of frames) pair them by `vloc pairs retrieval` instead.
# FEATURES=aliked MATCHER=lightglue runs it with learned features and matching.
set -euo pipefail
OUT=${1:-outputs/kitti}
# Driving frames: SIFT at the images' own size (sift-colmap-octave0, hloc's DoG). vloc's default `sift` first
# upsamples 2x; on KITTI's frames that fills the 4096-keypoint cap, half of it with blobs of about one pixel: matching
# 4x slower, and the first query lost at (10 cm, 0.25 deg) (measured on kitti_odometry_seq1; README "Recipes").
FEATURES=${FEATURES:-sift-colmap-octave0}  # or sift, or aliked / disk (learned, README "Learned features")
MATCHER=${MATCHER:-nn-ratio}  # nn-ratio, or lightglue / lightglue-disk for aliked / disk
DATA=${DATA:-$(cd "$(dirname "$0")/../.." && pwd)/shared/data}
SEQUENCE=${2:-$DATA/kitti_odometry_seq1}
mkdir -p "$OUT"

vloc prepare kitti "$OUT" --root "$SEQUENCE"
IMAGES="$SEQUENCE/image_0"  # KITTI's name for the left greyscale camera; image_l in the shared snippet
[ -d "$IMAGES" ] || IMAGES="$SEQUENCE/image_l"
vloc extract local "$IMAGES" "$OUT/feats-$FEATURES.h5" --conf "$FEATURES"
vloc pairs from-poses "$OUT/pairs-mapping.txt" --model "$OUT/reference" --num 20
vloc pairs exhaustive "$OUT/pairs-query.txt" --list "$OUT/query_list.txt" --ref-list "$OUT/mapping.txt"
vloc match features "$OUT/pairs-mapping.txt" "$OUT/feats-$FEATURES.h5" "$OUT/matches-mapping.h5" --conf "$MATCHER"
vloc match features "$OUT/pairs-query.txt" "$OUT/feats-$FEATURES.h5" "$OUT/matches-query.h5" --conf "$MATCHER"
vloc triangulate "$OUT/reference" "$IMAGES" "$OUT/pairs-mapping.txt" "$OUT/feats-$FEATURES.h5" "$OUT/matches-mapping.h5" \
    "$OUT/model"
vloc localize "$OUT/model" "$OUT/queries.txt" "$OUT/pairs-query.txt" "$OUT/feats-$FEATURES.h5" "$OUT/matches-query.h5" \
    "$OUT/results.txt"
vloc evaluate poses "$OUT/results.txt" "$OUT/ground_truth.txt" --dataset-json "$OUT/dataset.json" \
    --out-json "$OUT/evaluation.json" --plot "$OUT/errors.png"
for BACKBONE in dsift gnnet; do
    echo "KITTI, PnP refined feature-metrically on $BACKBONE features"
    vloc localize "$OUT/model" "$OUT/queries.txt" "$OUT/pairs-query.txt" "$OUT/feats-$FEATURES.h5" \
        "$OUT/matches-query.h5" "$OUT/results-$BACKBONE.txt" --refine featuremetric --images "$IMAGES" \
        --dense-conf "$BACKBONE"
    vloc evaluate poses "$OUT/results-$BACKBONE.txt" "$OUT/ground_truth.txt" --dataset-json "$OUT/dataset.json" \
        --out-json "$OUT/evaluation-$BACKBONE.json"
done
