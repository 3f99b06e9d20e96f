#!/usr/bin/env bash
# Extended CMU Seasons (visuallocalization.net), slice by slice, each into its own folder OUT/sliceN: triangulate the
# database images from the slice's reference model (NUM_MAPPING_PAIRS nearest cameras each), match each query with its
# top NUM_RETRIEVED database images by VLAD retrieval (vocabulary learnt on the slice's database images), localize,
# write the slice's submission, and evaluate it where the release gives query poses (camera-poses/). Then concatenate
# the slices' submissions into the one file the evaluation server takes (ExtendedCMU_vloc_sift-nn-ratio.txt: queries
# named by file name, cam_from_world) and check that it names every query once. Then, when the learned weights are
# installed, the same with ALIKED + LightGlue (ExtendedCMU_vloc_aliked-lightglue.txt).
# Usage: pipelines/cmu.sh [OUT] [DATASET_ROOT] [SLICES]   (default outputs/cmu_extended, datasets/cmu_extended, and
# every slice2 ... slice25 folder in DATASET_ROOT; the server scores the test slices 2-6 and 13-21)
# DATASET_ROOT is the release with its slice archives unpacked (as hloc's pipelines/CMU README does): per slice
#   sliceN/database/*.jpg, sliceN/query/*.jpg (img_NNNNN_c0_<timestamp>us.jpg: camera c0 or c1),
#   sliceN/sparse/ (reference COLMAP model of the database images, .txt or .bin), sliceN/test-images-sliceN.txt,
#   and, on some slices, sliceN/camera-poses/*.txt. The two cameras' intrinsics (the release's intrinsics.txt) are
#   built into `vloc prepare cmu`.
# NUM_MAPPING_PAIRS=K (default 20, hloc's covisible pairs) neighbours per database image, NUM_RETRIEVED=K (default 10,
# hloc's number for CMU) database images per query; LEARNED=0 skips the learned configuration (default: run it when
# `vloc weights aliked lightglue` passes).
set -euo pipefail
OUT=${1:-outputs/cmu_extended}
ROOT=${2:-datasets/cmu_extended}
SLICES=${3:-}
NUM_MAPPING_PAIRS=${NUM_MAPPING_PAIRS:-20}
NUM_RETRIEVED=${NUM_RETRIEVED:-10}
if [ -z "$SLICES" ]; then
    for N in $(seq 2 25); do
        if [ -d "$ROOT/slice$N" ]; then SLICES="$SLICES $N"; fi
    done
    SLICES=${SLICES# }
fi
if [ -z "$SLICES" ]; then
    echo "error: $ROOT: no slice2 ... slice25 folder (the Extended CMU Seasons release, unpacked)" >&2
    exit 1
fi
# Local features and matcher of each configuration: weight-free first, learned where its weights are installed.
CONFIGURATIONS="sift:nn-ratio"
if [ "${LEARNED:-auto}" != 0 ] && vloc weights aliked lightglue > /dev/null 2>&1; then
    CONFIGURATIONS="$CONFIGURATIONS aliked:lightglue"
fi
mkdir -p "$OUT"

for N in $SLICES; do
    S="$OUT/slice$N"
    IMAGES="$ROOT/slice$N"  # image names are database/... and query/...
    vloc prepare cmu "$S" --root "$IMAGES"
    vloc extract local "$IMAGES" "$S/feats-sift.h5" --conf sift --list <(cat "$S/mapping.txt" "$S/query_list.txt")
    vloc pairs from-poses "$S/pairs-mapping.txt" --model "$S/reference" --num "$NUM_MAPPING_PAIRS"
    # VLAD reads its RootSIFT from feats-sift.h5.
    vloc extract global "$IMAGES" "$S/global-vlad-mapping.h5" --conf vlad --list "$S/mapping.txt" \
        --local-features "$S/feats-sift.h5"
    vloc extract global "$IMAGES" "$S/global-vlad-queries.h5" --conf vlad --list "$S/query_list.txt" \
        --set vocabulary="$S/global-vlad-mapping.vocab.npz" --local-features "$S/feats-sift.h5"
    vloc pairs retrieval "$S/pairs-query-vlad$NUM_RETRIEVED.txt" --descriptors "$S/global-vlad-queries.h5" \
        --db-descriptors "$S/global-vlad-mapping.h5" --num "$NUM_RETRIEVED"
    for CONFIGURATION in $CONFIGURATIONS; do
        FEATURES=${CONFIGURATION%:*}
        MATCHER=${CONFIGURATION#*:}
        C="$FEATURES-$MATCHER"
        echo "Extended CMU Seasons, slice $N, $FEATURES + $MATCHER"
        vloc extract local "$IMAGES" "$S/feats-$FEATURES.h5" --conf "$FEATURES" \
            --list <(cat "$S/mapping.txt" "$S/query_list.txt")
        vloc match features "$S/pairs-mapping.txt" "$S/feats-$FEATURES.h5" "$S/matches-mapping-$C.h5" \
            --conf "$MATCHER"
        vloc match features "$S/pairs-query-vlad$NUM_RETRIEVED.txt" "$S/feats-$FEATURES.h5" \
            "$S/matches-query-$C.h5" --conf "$MATCHER"
        vloc triangulate "$S/reference" "$IMAGES" "$S/pairs-mapping.txt" "$S/feats-$FEATURES.h5" \
            "$S/matches-mapping-$C.h5" "$S/model-$C"
        # The submission needs a pose for every query: as in hloc's submissions, a query PnP cannot localize gets the
        # pose of its top retrieved image (marked as a fallback in the results log).
        vloc localize "$S/model-$C" "$S/queries.txt" "$S/pairs-query-vlad$NUM_RETRIEVED.txt" "$S/feats-$FEATURES.h5" \
            "$S/matches-query-$C.h5" "$S/results-$C.txt" --set fallback_to_top_image=true
        vloc evaluate submission "$S/results-$C.txt" "$S/dataset.json" "$S/submission-$C.txt"
        if [ -s "$S/ground_truth.txt" ]; then
            vloc evaluate poses "$S/results-$C.txt" "$S/ground_truth.txt" --dataset-json "$S/dataset.json" \
                --out-json "$S/evaluation-$C.json"
        fi
    done
done

# The server's file holds every slice; it names no slice, so a name must not repeat across slices.
NUM_QUERIES=$(for N in $SLICES; do cat "$OUT/slice$N/query_list.txt"; done | wc -l)
for CONFIGURATION in $CONFIGURATIONS; do
    C="${CONFIGURATION%:*}-${CONFIGURATION#*:}"
    SUBMISSION="$OUT/ExtendedCMU_vloc_$C.txt"
    for N in $SLICES; do cat "$OUT/slice$N/submission-$C.txt"; done > "$SUBMISSION"
    NUM_NAMES=$(cut -d' ' -f1 "$SUBMISSION" | sort -u | wc -l)
    if [ "$(wc -l < "$SUBMISSION")" -ne "$NUM_QUERIES" ] || [ "$NUM_NAMES" -ne "$NUM_QUERIES" ]; then
        echo "error: $SUBMISSION: $NUM_NAMES distinct query names in $(wc -l < "$SUBMISSION") lines for the" \
            "$NUM_QUERIES queries of slices $SLICES" >&2
        exit 1
    fi
    echo "$SUBMISSION: the $NUM_QUERIES queries of slices $SLICES, each once"
done
