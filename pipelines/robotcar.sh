#!/usr/bin/env bash
# RobotCar Seasons v2: the file visuallocalization.net takes. The overcast-reference images are triangulated from the
# poses of the reference NVM model (each paired with its nearest cameras), each v2 test query is matched with its
# top-20 reference images by VLAD retrieval (vocabulary learnt on the reference images) and localized; a query that
# fails gets the pose of its best-matched reference image (fallback_to_top_image, hloc's behaviour for submissions,
# recorded per query in the results log), since the server scores every query. No local evaluation: the v2 test
# poses are not public.
# Usage: pipelines/robotcar.sh [OUT] [DATASET_ROOT]   (defaults outputs/robotcar and datasets/robotcar)
# DATASET_ROOT is the dataset as published (https://data.ciirc.cvut.cz/public/projects/2020VisualLocalization/
# RobotCar-Seasons/, the images/*.zip unpacked):
#   images/<condition>/{left,rear,right}/<timestamp>.jpg   overcast-reference, dawn, dusk, night, night-rain, ...
#   3D-models/all-merged/all.nvm                            reference poses
#   intrinsics/{left,rear,right}_intrinsics.txt
#   robotcar_v2_test.txt                                    the v2 test queries
# Writes OUT/RobotCar-v2_vloc_sift-nn-ratio.txt (and its .json summary), and with the learned weights installed
# OUT/RobotCar-v2_vloc_aliked-lightglue.txt; LEARNED=0 skips the learned configuration.
# NUM_MAPPING_PAIRS=K (default 20) neighbours per reference image, NUM_RETRIEVED=K (default 20) per query.
set -euo pipefail
OUT=${1:-outputs/robotcar}
ROOT=${2:-datasets/robotcar}
NUM_MAPPING_PAIRS=${NUM_MAPPING_PAIRS:-20}
NUM_RETRIEVED=${NUM_RETRIEVED:-20}
IMAGES="$ROOT/images"
mkdir -p "$OUT"

vloc prepare robotcar "$OUT" --root "$ROOT"
CONFIGURATIONS="sift:nn-ratio"
if [ "${LEARNED:-auto}" != 0 ] && vloc weights aliked lightglue > /dev/null 2>&1; then
    CONFIGURATIONS="$CONFIGURATIONS aliked:lightglue"
fi

# VLAD reads its RootSIFT from feats-sift.h5. The left, rear and right cameras look 90 degrees apart: pairs within 45.
vloc extract local "$IMAGES" "$OUT/feats-sift.h5" --conf sift --list <(cat "$OUT/mapping.txt" "$OUT/query_list.txt")
vloc pairs from-poses "$OUT/pairs-mapping.txt" --model "$OUT/reference" --num "$NUM_MAPPING_PAIRS" --max-angle 45
vloc extract global "$IMAGES" "$OUT/global-vlad-mapping.h5" --conf vlad --list "$OUT/mapping.txt" \
    --local-features "$OUT/feats-sift.h5"
vloc extract global "$IMAGES" "$OUT/global-vlad-queries.h5" --conf vlad --list "$OUT/query_list.txt" \
    --set vocabulary="$OUT/global-vlad-mapping.vocab.npz" --local-features "$OUT/feats-sift.h5"
vloc pairs retrieval "$OUT/pairs-query.txt" --descriptors "$OUT/global-vlad-queries.h5" \
    --db-descriptors "$OUT/global-vlad-mapping.h5" --num "$NUM_RETRIEVED"

for CONFIGURATION in $CONFIGURATIONS; do
    FEATURES=${CONFIGURATION%:*}
    MATCHER=${CONFIGURATION#*:}
    C="$OUT/$FEATURES-$MATCHER"
    mkdir -p "$C"
    echo "RobotCar Seasons v2, $FEATURES + $MATCHER"
    vloc extract local "$IMAGES" "$OUT/feats-$FEATURES.h5" --conf "$FEATURES" \
        --list <(cat "$OUT/mapping.txt" "$OUT/query_list.txt")
    vloc match features "$OUT/pairs-mapping.txt" "$OUT/feats-$FEATURES.h5" "$C/matches-mapping.h5" --conf "$MATCHER"
    vloc match features "$OUT/pairs-query.txt" "$OUT/feats-$FEATURES.h5" "$C/matches-query.h5" --conf "$MATCHER"
    vloc triangulate "$OUT/reference" "$IMAGES" "$OUT/pairs-mapping.txt" "$OUT/feats-$FEATURES.h5" \
        "$C/matches-mapping.h5" "$C/model"
    vloc localize "$C/model" "$OUT/queries.txt" "$OUT/pairs-query.txt" "$OUT/feats-$FEATURES.h5" \
        "$C/matches-query.h5" "$C/results.txt" --set fallback_to_top_image=true
    vloc evaluate submission "$C/results.txt" "$OUT/dataset.json" \
        "$OUT/RobotCar-v2_vloc_$FEATURES-$MATCHER.txt"
done
