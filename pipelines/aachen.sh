#!/usr/bin/env bash
# Aachen Day-Night v1.1 (visuallocalization.net): triangulate the database images from the reference model's poses
# (NUM_MAPPING_PAIRS nearest cameras each), match each query with its top NUM_RETRIEVED database images by VLAD
# retrieval (vocabulary learnt on the database images), localize, and write the file the evaluation server takes
# (Aachen-v1.1_vloc_sift-nn-ratio.txt, the queries named by file name, cam_from_world). Query poses are not public:
# there is no local evaluation. Then, when the learned weights are installed, the same with ALIKED + LightGlue
# (Aachen-v1.1_vloc_aliked-lightglue.txt).
# Usage: pipelines/aachen.sh [OUT] [DATASET_ROOT]   (default outputs/aachen_v1.1 and datasets/aachen_v1.1)
# DATASET_ROOT is the release as hloc's pipelines/Aachen_v1_1 README unpacks it:
#   images/images_upright/db/*.jpg, images/images_upright/query/{day,night}/<camera>/*.jpg,
#   images/images_upright/sequences/... (v1.1; images_upright/ at the top is read too),
#   3D-models/aachen_v_1_1/{cameras,images,points3D}.bin (COLMAP; .txt is read too),
#   queries/day_time_queries_with_intrinsics.txt, queries/night_time_queries_with_intrinsics.txt
#   ('name MODEL width height params', hloc's queries format).
# NUM_MAPPING_PAIRS=K (default 20, hloc's covisible pairs) neighbours per database image, NUM_RETRIEVED=K (default 50,
# hloc's number for Aachen v1.1) database images per query; LEARNED=0 skips the learned configuration (default: run
# it when `vloc weights aliked lightglue` passes).
set -euo pipefail
OUT=${1:-outputs/aachen_v1.1}
ROOT=${2:-datasets/aachen_v1.1}
NUM_MAPPING_PAIRS=${NUM_MAPPING_PAIRS:-20}
NUM_RETRIEVED=${NUM_RETRIEVED:-50}
IMAGES="$ROOT/images/images_upright"
[ -d "$IMAGES" ] || IMAGES="$ROOT/images_upright"
mkdir -p "$OUT"

vloc prepare aachen "$OUT" --root "$ROOT"
vloc extract local "$IMAGES" "$OUT/feats-sift.h5" --conf sift --list <(cat "$OUT/mapping.txt" "$OUT/query_list.txt")
vloc pairs from-poses "$OUT/pairs-mapping.txt" --model "$OUT/reference" --num "$NUM_MAPPING_PAIRS"
# VLAD reads its RootSIFT from feats-sift.h5.
vloc extract global "$IMAGES" "$OUT/global-vlad-mapping.h5" --conf vlad --list "$OUT/mapping.txt" \
    --local-features "$OUT/feats-sift.h5"
vloc extract global "$IMAGES" "$OUT/global-vlad-queries.h5" --conf vlad --list "$OUT/query_list.txt" \
    --set vocabulary="$OUT/global-vlad-mapping.vocab.npz" --local-features "$OUT/feats-sift.h5"
vloc pairs retrieval "$OUT/pairs-query-vlad$NUM_RETRIEVED.txt" --descriptors "$OUT/global-vlad-queries.h5" \
    --db-descriptors "$OUT/global-vlad-mapping.h5" --num "$NUM_RETRIEVED"

# Local features and matcher of each configuration: weight-free first, learned where its weights are installed.
CONFIGURATIONS="sift:nn-ratio"
if [ "${LEARNED:-auto}" != 0 ] && vloc weights aliked lightglue > /dev/null 2>&1; then
    CONFIGURATIONS="$CONFIGURATIONS aliked:lightglue"
fi
for CONFIGURATION in $CONFIGURATIONS; do
    FEATURES=${CONFIGURATION%:*}
    MATCHER=${CONFIGURATION#*:}
    C="$FEATURES-$MATCHER"
    echo "Aachen Day-Night v1.1, $FEATURES + $MATCHER"
    vloc extract local "$IMAGES" "$OUT/feats-$FEATURES.h5" --conf "$FEATURES" \
        --list <(cat "$OUT/mapping.txt" "$OUT/query_list.txt")
    vloc match features "$OUT/pairs-mapping.txt" "$OUT/feats-$FEATURES.h5" "$OUT/matches-mapping-$C.h5" \
        --conf "$MATCHER"
    vloc match features "$OUT/pairs-query-vlad$NUM_RETRIEVED.txt" "$OUT/feats-$FEATURES.h5" \
        "$OUT/matches-query-$C.h5" --conf "$MATCHER"
    vloc triangulate "$OUT/reference" "$IMAGES" "$OUT/pairs-mapping.txt" "$OUT/feats-$FEATURES.h5" \
        "$OUT/matches-mapping-$C.h5" "$OUT/model-$C"
    # The submission needs a pose for every query: as in hloc's submissions, a query PnP cannot localize gets the pose
    # of its top retrieved image (marked as a fallback in the results log).
    vloc localize "$OUT/model-$C" "$OUT/queries.txt" "$OUT/pairs-query-vlad$NUM_RETRIEVED.txt" \
        "$OUT/feats-$FEATURES.h5" "$OUT/matches-query-$C.h5" "$OUT/results-$C.txt" --set fallback_to_top_image=true
    vloc evaluate submission "$OUT/results-$C.txt" "$OUT/dataset.json" "$OUT/Aachen-v1.1_vloc_$C.txt"
done
