#!/usr/bin/env bash
# Microsoft 7-Scenes, every scene, with its standard train / test sequences, evaluated locally (the test poses are
# public). Per scene: triangulate the frames of the train sequences from their known poses (20 nearest cameras each),
# match each test frame with its top-10 train frames by VLAD retrieval (vocabulary learnt on the scene's train frames),
# localize, match it with the 10 train frames nearest that first pose too (within 30 deg), localize again over both
# (no fallback: a failed query counts as failed) and evaluate: median errors, recall at 2 cm 2 deg, 5 cm 5 deg (the
# standard threshold) and 10 cm 10 deg. Then a results line per scene and the evaluation of all scenes' queries
# together. Configurations: SIFT + nn-ratio, then, where `vloc weights aliked lightglue` finds the learned weights,
# ALIKED + LightGlue on the same retrieval pairs.
# Usage: pipelines/7scenes.sh [OUT] [DATASET_ROOT] [SCENE...]   (defaults outputs/7scenes, datasets/7scenes, every
# scene folder of DATASET_ROOT)
# DATASET_ROOT holds the scenes as published (https://www.microsoft.com/en-us/research/project/rgb-d-dataset-7-scenes/:
# chess.zip, fire.zip, heads.zip, office.zip, pumpkin.zip, redkitchen.zip, stairs.zip, each unpacked with the
# seq-XX.zip inside it), each:
#   <scene>/TrainSplit.txt, <scene>/TestSplit.txt                        'sequence1' per line
#   <scene>/seq-XX/frame-XXXXXX.color.png, .depth.png, .pose.txt         pose: camera-to-world 4x4 (KinectFusion)
# Writes OUT/<scene>/evaluation-sift-nn-ratio.json, and with the learned weights installed
# OUT/<scene>/evaluation-aliked-lightglue.json (LEARNED=0 skips the learned configuration); one line per scene, and
# OUT/evaluation-sift-nn-ratio.json (all scenes' queries together).
# PGT=FOLDER: the SfM pseudo ground truth of Brachmann et al. 2021 instead of pose.txt, for the train frames' poses and
# the evaluation: FOLDER holds <scene>_train.txt and <scene>_test.txt (pgt/sfm/7scenes/ of
# github.com/tsattler/visloc_pseudo_gt_limitations); outputs then go to OUT/<scene>-pgt/ and
# OUT/evaluation-pgt-<configuration>.json, beside those of pose.txt.
# NUM_RETRIEVED=K changes the first 10, POSE_NEIGHBOURS=K the second.
set -euo pipefail
OUT=${1:-outputs/7scenes}
ROOT=${2:-datasets/7scenes}
SCENES=${*:3}
NUM_RETRIEVED=${NUM_RETRIEVED:-10}
POSE_NEIGHBOURS=${POSE_NEIGHBOURS:-10}
SUFFIX=${PGT:+-pgt}
if [ -z "$SCENES" ]; then
    for SPLIT in "$ROOT"/*/TrainSplit.txt; do
        if [ -f "$SPLIT" ]; then SCENES="$SCENES $(basename "$(dirname "$SPLIT")")"; fi
    done
fi
if [ -z "$SCENES" ]; then
    echo "error: $ROOT: no scene folder with a TrainSplit.txt (a 7-Scenes scene)" >&2
    exit 1
fi
CONFIGURATIONS="sift:nn-ratio"
if [ "${LEARNED:-auto}" != 0 ] && vloc weights aliked lightglue > /dev/null 2>&1; then
    CONFIGURATIONS="$CONFIGURATIONS aliked:lightglue"
fi

for SCENE in $SCENES; do
    S="$OUT/$SCENE$SUFFIX"
    IMAGES="$ROOT/$SCENE"
    if [ -n "${PGT:-}" ]; then
        vloc prepare 7scenes "$S" --root "$IMAGES" --pgt "$PGT/${SCENE}_train.txt" --pgt "$PGT/${SCENE}_test.txt"
    else
        vloc prepare 7scenes "$S" --root "$IMAGES"
    fi
    # VLAD reads its RootSIFT from feats-sift.h5.
    vloc extract local "$IMAGES" "$S/feats-sift.h5" --conf sift --list <(cat "$S/mapping.txt" "$S/query_list.txt")
    vloc pairs from-poses "$S/pairs-mapping.txt" --model "$S/reference" --num 20
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
        F="$S/feats-$FEATURES.h5"
        mkdir -p "$C"
        echo "7-Scenes $SCENE, $FEATURES + $MATCHER${PGT:+, pseudo ground truth}"
        vloc extract local "$IMAGES" "$F" --conf "$FEATURES" --list <(cat "$S/mapping.txt" "$S/query_list.txt")
        vloc match features "$S/pairs-mapping.txt" "$F" "$C/matches-mapping.h5" --conf "$MATCHER"
        vloc match features "$S/pairs-query.txt" "$F" "$C/matches-query.h5" --conf "$MATCHER"
        vloc triangulate "$S/reference" "$IMAGES" "$S/pairs-mapping.txt" "$F" "$C/matches-mapping.h5" "$C/model"
        vloc localize "$C/model" "$S/queries.txt" "$S/pairs-query.txt" "$F" "$C/matches-query.h5" \
            "$C/results-retrieval.txt"
        # Retrieval finds the place, the first pose finds the views that overlap the query most.
        vloc pairs from-poses "$C/pairs-pose.txt" --model "$C/model" --query-poses "$C/results-retrieval.txt" \
            --num "$POSE_NEIGHBOURS" --max-angle 30
        sort -u "$S/pairs-query.txt" "$C/pairs-pose.txt" > "$C/pairs-query-pose.txt"
        vloc match features "$C/pairs-query-pose.txt" "$F" "$C/matches-query.h5" --conf "$MATCHER"
        vloc localize "$C/model" "$S/queries.txt" "$C/pairs-query-pose.txt" "$F" "$C/matches-query.h5" \
            "$C/results.txt"
        vloc evaluate poses "$C/results.txt" "$S/ground_truth.txt" --dataset-json "$S/dataset.json" \
            --out-json "$S/evaluation-$FEATURES-$MATCHER.json"
    done
done

# All scenes' queries together: names prefixed with their scene, every query counted (one without a pose as failed),
# the thresholds of the scenes' dataset.json.
for FIRST in $SCENES; do break; done
for SCENE in $SCENES; do sed "s|^|$SCENE/|" "$OUT/$SCENE$SUFFIX/ground_truth.txt"; done > "$OUT/ground_truth$SUFFIX.txt"
for SCENE in $SCENES; do sed "s|^|$SCENE/|" "$OUT/$SCENE$SUFFIX/query_list.txt"; done > "$OUT/query_list$SUFFIX.txt"
for CONFIGURATION in $CONFIGURATIONS; do
    NAME=${CONFIGURATION/:/-}
    echo "7-Scenes, ${CONFIGURATION/:/ + }${PGT:+, pseudo ground truth}: per scene, the median errors and the recall at" \
        "2 cm 2 deg, 5 cm 5 deg, 10 cm 10 deg"
    for SCENE in $SCENES; do
        # The 'all' group of the scene's evaluation, on one line.
        SUMMARY=$(tr -d ' \n' < "$OUT/$SCENE$SUFFIX/evaluation-$NAME.json" \
            | sed -e 's/.*"groups":{"all":{\([^}]*\)}.*/\1/' -e 's/"//g' -e 's/,\([a-z]\)/ \1/g')
        echo "$SCENE: $SUMMARY"
    done
    for SCENE in $SCENES; do sed "s|^|$SCENE/|" "$OUT/$SCENE$SUFFIX/$NAME/results.txt"; done \
        > "$OUT/results$SUFFIX-$NAME.txt"
    vloc evaluate poses "$OUT/results$SUFFIX-$NAME.txt" "$OUT/ground_truth$SUFFIX.txt" \
        --dataset-json "$OUT/$FIRST$SUFFIX/dataset.json" --queries "$OUT/query_list$SUFFIX.txt" \
        --out-json "$OUT/evaluation$SUFFIX-$NAME.json"
done
