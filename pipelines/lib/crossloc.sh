# CrossLoc's stages and its ablation, sourced by the scene coordinate regression recipes (7scenes_scr.sh,
# synthetic_street_scr.sh). The recipe sets: S (output folder), TWIN (a vloc synth or synth-twin folder), SYNTHETIC and
# REAL (its conditions), FRAMES (a list of the frames to train on, or empty for all), QUERIES, IMAGES, GROUND_TRUTH,
# DATASET_JSON, PRETRAIN and FINETUNE (epochs), MODEL (a --set of the networks), and optionally ABLATION and SCR_SET.

crossloc_train() {  # crossloc_train OUT TASK CONDITIONS EPOCHS [more vloc train scr options]
    local out=$1 task=$2 conditions=$3 epochs=$4
    shift 4
    if [ ! -f "$out/scr.pt" ]; then
        # shellcheck disable=SC2086  # SCR_SET is a list of --set arguments
        vloc train scr "$out" --synthetic "$TWIN" --condition "$conditions" --validation-condition "$REAL" \
            --task "$task" ${FRAMES:+--list "$FRAMES"} --set epochs="$epochs" --set "$MODEL" ${SCR_SET:-} "$@"
    fi
}

crossloc_localize() {  # crossloc_localize NETWORK NAME: results-NAME.txt, and results-NAME-all.txt keeping every
    # DSAC* estimate, also those the acceptance test (40% of the cells inliers) rejects
    vloc localize-scr "$1" "$QUERIES" "$IMAGES" "$S/results-$2.txt"
    vloc localize-scr "$1" "$QUERIES" "$IMAGES" "$S/results-$2-all.txt" --set min_inlier_ratio=0
    for results in "$2" "$2-all"; do
        vloc evaluate poses "$S/results-$results.txt" "$GROUND_TRUTH" --dataset-json "$DATASET_JSON" \
            --out-json "$S/evaluation-$results.json"
    done
}

crossloc_count() {  # crossloc_count CONDITION: the training frames of a condition
    if [ -n "${FRAMES:-}" ]; then grep -c "^$1/" "$FRAMES"; else find "$TWIN/images/$1" -type f | wc -l; fi
}

crossloc() {
    local num_synthetic num_real updates epochs
    num_synthetic=$(crossloc_count "$SYNTHETIC")
    num_real=$(crossloc_count "$REAL")
    echo "CrossLoc: $num_real $REAL frames, $num_synthetic $SYNTHETIC frames"
    for task in coord depth normal; do
        crossloc_train "$S/pretrain-$task" "$task" "$SYNTHETIC" "$PRETRAIN"
        crossloc_train "$S/finetune-$task" "$task" "$REAL,$SYNTHETIC" "$FINETUNE" --init "$S/pretrain-$task/scr.pt"
    done
    crossloc_train "$S/fused" coord "$REAL,$SYNTHETIC" "$FINETUNE" --init "$S/finetune-coord/scr.pt" \
        --helper "$S/finetune-depth/scr.pt" --helper "$S/finetune-normal/scr.pt"
    crossloc_localize "$S/fused/scr.pt" fused
    if [ -n "${ABLATION:-}" ]; then
        # the same coordinate-network frame updates as the fused model's coordinate path (pretrain, fine-tune, fusion)
        updates=$((PRETRAIN * num_synthetic + 2 * FINETUNE * (num_real + num_synthetic)))
        epochs=$(((updates + num_real - 1) / num_real))
        crossloc_train "$S/real-only" coord "$REAL" "$epochs" --set validation_interval=$(((epochs + 9) / 10))
        crossloc_train "$S/synthetic-pretrained" coord "$REAL,$SYNTHETIC" $((2 * FINETUNE)) \
            --init "$S/pretrain-coord/scr.pt"
        crossloc_localize "$S/real-only/scr.pt" real-only
        crossloc_localize "$S/synthetic-pretrained/scr.pt" synthetic-pretrained
    fi
}
