#!/usr/bin/env bash
# Cambridge Landmarks, each scene evaluated locally (its test poses are public): the training frames are triangulated
# from their poses in dataset_train.txt (each paired with its nearest cameras), each test frame is matched with its
# top-20 training frames by VLAD retrieval (vocabulary learnt on the training frames), localized (a failed query stays
# failed: no fallback) and compared with dataset_test.txt (median errors, recall at 25 cm 2 deg, 50 cm 5 deg,
# 5 m 10 deg).
# Usage: pipelines/cambridge.sh [OUT] [DATASET_ROOT] [SCENE...]   (defaults outputs/cambridge, datasets/cambridge,
# every scene folder of DATASET_ROOT)
# DATASET_ROOT holds the scenes as published (https://www.repository.cam.ac.uk, PoseNet's KingsCollege.zip,
# OldHospital.zip, ShopFacade.zip, StMarysChurch.zip, GreatCourt.zip, unpacked), each:
#   <scene>/dataset_train.txt, <scene>/dataset_test.txt, <scene>/seqN/frameXXXXX.png, <scene>/reconstruction.nvm
# Writes OUT/<scene>/evaluation-sift-nn-ratio.json, and with the learned weights installed
# OUT/<scene>/evaluation-aliked-lightglue.json; LEARNED=0 skips the learned configuration.
# NUM_MAPPING_PAIRS=K (default 20) neighbours per training frame, NUM_RETRIEVED=K (default 20) per query.
set -euo pipefail
OUT=${1:-outputs/cambridge}
ROOT=${2:-datasets/cambridge}
SCENES=${*:3}
NUM_MAPPING_PAIRS=${NUM_MAPPING_PAIRS:-20}
NUM_RETRIEVED=${NUM_RETRIEVED:-20}
if [ -z "$SCENES" ]; then
    for TRAIN in "$ROOT"/*/dataset_train.txt; do
        if [ -f "$TRAIN" ]; then SCENES="$SCENES $(basename "$(dirname "$TRAIN")")"; fi
    done
fi
if [ -z "$SCENES" ]; then
    echo "error: $ROOT: no scene folder with a dataset_train.txt (a Cambridge Landmarks scene)" >&2
    exit 1
fi
CONFIGURATIONS="sift:nn-ratio"
if [ "${LEARNED:-auto}" != 0 ] && vloc weights aliked lightglue > /dev/null 2>&1; then
    CONFIGURATIONS="$CONFIGURATIONS aliked:lightglue"
fi

for SCENE in $SCENES; do
    S="$OUT/$SCENE"
    IMAGES="$ROOT/$SCENE"
    vloc prepare cambridge "$S" --root "$IMAGES"
    # VLAD reads its RootSIFT from feats-sift.h5.
    vloc extract local "$IMAGES" "$S/feats-sift.h5" --conf sift --list <(cat "$S/mapping.txt" "$S/query_list.txt")
    vloc pairs from-poses "$S/pairs-mapping.txt" --model "$S/reference" --num "$NUM_MAPPING_PAIRS"
    vloc extract global "$IMAGES" "$S/global-vlad-mapping.h5" --conf vlad --list "$S/mapping.txt" \
        --local-features "$S/feats-sift.h5"
    vloc extract global "$IMAGES" "$S/global-vlad-queries.h5" --conf vlad --list "$S/query_list.txt" \
        --set vocabulary="$S/global-vlad-mapping.vocab.npz" --local-features "$S/feats-sift.h5"
    vloc pairs retrieval "$S/pairs-query.txt" --descriptors "$S/global-vlad-queries.h5" \
        --db-descriptors "$S/global-vlad-mapping.h5" --num "$NUM_RETRIEVED"
    for CONFIGURATION in $CONFIGURATIONS; do
        FEATURES=${CONFIGURATION%:*}
        MATCHER=${CONFIGURATION#*:}
        C="$S/$FEATURES-$MATCHER"
        mkdir -p "$C"
        echo "Cambridge Landmarks $SCENE, $FEATURES + $MATCHER"
        vloc extract local "$IMAGES" "$S/feats-$FEATURES.h5" --conf "$FEATURES" \
            --list <(cat "$S/mapping.txt" "$S/query_list.txt")
        vloc match features "$S/pairs-mapping.txt" "$S/feats-$FEATURES.h5" "$C/matches-mapping.h5" --conf "$MATCHER"
        vloc match features "$S/pairs-query.txt" "$S/feats-$FEATURES.h5" "$C/matches-query.h5" --conf "$MATCHER"
        vloc triangulate "$S/reference" "$IMAGES" "$S/pairs-mapping.txt" "$S/feats-$FEATURES.h5" \
            "$C/matches-mapping.h5" "$C/model"
        vloc localize "$C/model" "$S/queries.txt" "$S/pairs-query.txt" "$S/feats-$FEATURES.h5" \
            "$C/matches-query.h5" "$C/results.txt"
        vloc evaluate poses "$C/results.txt" "$S/ground_truth.txt" --dataset-json "$S/dataset.json" \
            --out-json "$S/evaluation-$FEATURES-$MATCHER.json"
    done
done
