# Shared recipe steps; recipes `source` this file.

# query_pairs DIR IMAGES: write DIR/pairs-query.txt from DIR/query_list.txt and DIR/mapping.txt.
# QUERY_PAIRS=retrieval (top NUM_RETRIEVED mapping images by VLAD, with the vocabulary learnt on the mapping
# images) or QUERY_PAIRS=exhaustive (every query with every mapping image).
query_pairs() {
    local dir=$1 images=$2
    if [ "$QUERY_PAIRS" = exhaustive ]; then
        vloc pairs exhaustive "$dir/pairs-query.txt" --list "$dir/query_list.txt" --ref-list "$dir/mapping.txt"
    else
        vloc extract "$images" "$dir/global-vlad-mapping.h5" --conf vlad --list "$dir/mapping.txt"
        vloc extract "$images" "$dir/global-vlad-queries.h5" --conf vlad --list "$dir/query_list.txt" \
            --set vocabulary="$dir/global-vlad-mapping.vocab.npz"
        vloc pairs retrieval "$dir/pairs-query.txt" --descriptors "$dir/global-vlad-queries.h5" \
            --db-descriptors "$dir/global-vlad-mapping.h5" --num "$NUM_RETRIEVED"
        vloc evaluate-retrieval "$dir/pairs-query.txt" --ground-truth "$dir/ground_truth.txt" \
            --db-ground-truth "$dir/reference" --queries "$dir/query_list.txt" --out-json "$dir/retrieval.json"
    fi
}

# first_pass_results DIR: the results of map_localize_evaluate's first localization (DIR/results-retrieval.txt when a
# second, pose-guided pass follows, else DIR/results.txt).
first_pass_results() {
    if [ "$QUERY_PAIRS" = retrieval ] && [ "${POSE_NEIGHBOURS:-0}" -gt 0 ]; then
        echo "$1/results-retrieval.txt"
    else
        echo "$1/results.txt"
    fi
}

# map_localize_evaluate DIR IMAGES FEATURES: match DIR/pairs-mapping.txt and DIR/pairs-query.txt, triangulate
# DIR/reference into DIR/model, localize the queries of DIR/queries.txt, print and save the evaluation.
# POSE_NEIGHBOURS=K (with QUERY_PAIRS=retrieval): then also pair each query with the K mapping images nearest its
# first pose (within 30 deg), match the new pairs and localize again over both (DIR/pairs-query-pose.txt):
# retrieval finds the place, the first pose finds the views that overlap the query most. Ends with how well the ground
# truth explains the query matches beside the estimates (DIR/consistency.json).
map_localize_evaluate() {
    local dir=$1 images=$2 features=$3 first pairs
    first=$(first_pass_results "$dir")
    pairs=$dir/pairs-query.txt
    vloc match "$dir/pairs-mapping.txt" "$features" "$dir/matches-mapping.h5" --conf nn-ratio
    vloc match "$dir/pairs-query.txt" "$features" "$dir/matches-query.h5" --conf nn-ratio
    vloc triangulate "$dir/reference" "$images" "$dir/pairs-mapping.txt" "$features" "$dir/matches-mapping.h5" "$dir/model"
    vloc localize "$dir/model" "$dir/queries.txt" "$dir/pairs-query.txt" "$features" "$dir/matches-query.h5" "$first"
    if [ "$first" != "$dir/results.txt" ]; then
        vloc pairs from-poses "$dir/pairs-pose.txt" --model "$dir/model" --query-poses "$first" \
            --num "$POSE_NEIGHBOURS" --max-angle 30
        sort -u "$dir/pairs-query.txt" "$dir/pairs-pose.txt" > "$dir/pairs-query-pose.txt"
        vloc match "$dir/pairs-query-pose.txt" "$features" "$dir/matches-query.h5" --conf nn-ratio
        pairs=$dir/pairs-query-pose.txt
        vloc localize "$dir/model" "$dir/queries.txt" "$pairs" "$features" "$dir/matches-query.h5" "$dir/results.txt"
    fi
    vloc evaluate "$dir/results.txt" "$dir/ground_truth.txt" --dataset-json "$dir/dataset.json" \
        --out-json "$dir/evaluation.json" --plot "$dir/errors.png"
    vloc evaluate-consistency "$dir/model" "$dir/queries.txt" "$pairs" "$features" "$dir/matches-query.h5" \
        "$dir/results.txt" "$dir/ground_truth.txt" --dataset-json "$dir/dataset.json" --out-json "$dir/consistency.json"
}

# lbr_localize_evaluate DIR IMAGES FEATURES BUDGET: localization by global instance recognition over DIR/model:
# vloc's instance labels from the model, the RECOGNIZER (vote, weight-free; seg: trained on the mapping images first)
# on the queries, instance-guided groups of at most BUDGET pairs per query (VLAD similarity from
# DIR/global-vlad-*.h5), instance-wise matching and early exit; writes DIR/results-lbr.txt and DIR/evaluation-lbr.json.
lbr_localize_evaluate() {
    local dir=$1 images=$2 features=$3 budget=$4 recognizer=${RECOGNIZER:-vote}
    local recognizer_set=()
    vloc instances build "$dir/model" "$dir/instances.h5"
    if [ "$recognizer" = seg ]; then
        vloc train recognizer "$dir/recognizer" --instances "$dir/instances.h5" --images "$images"
        recognizer_set=(--set checkpoint="$dir/recognizer/recognizer.pt")
    fi
    vloc recognize "$dir/instances.h5" "$images" "$features" "$dir/recognitions.h5" \
        --queries "$dir/query_list.txt" --conf "$recognizer" "${recognizer_set[@]}"
    vloc pairs instances "$dir/pairs-instances.txt" --recognitions "$dir/recognitions.h5" --instances "$dir/instances.h5" \
        --descriptors "$dir/global-vlad-queries.h5" --db-descriptors "$dir/global-vlad-mapping.h5" --max-pairs "$budget"
    vloc localize "$dir/model" "$dir/queries.txt" "$dir/pairs-instances.txt" "$features" "$dir/matches-lbr.h5" \
        "$dir/results-lbr.txt" --method lbr --labels "$dir/instances.h5" --labels "$dir/recognitions.h5"
    vloc evaluate "$dir/results-lbr.txt" "$dir/ground_truth.txt" --dataset-json "$dir/dataset.json" \
        --out-json "$dir/evaluation-lbr.json"
    python3 -c "import json,sys; s=json.load(open(sys.argv[1]))['summary']; print(f\"LBR: {s['mean_pairs_matched']:.2f} pairs matched per query (budget {sys.argv[2]}), {s['num_early_exits']}/{s['num_queries']} early exits\")" \
        "$dir/results-lbr_log.json" "$budget"
}
