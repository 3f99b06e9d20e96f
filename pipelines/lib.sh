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

# map_localize_evaluate DIR IMAGES FEATURES: match DIR/pairs-mapping.txt and DIR/pairs-query.txt, triangulate
# DIR/reference into DIR/model, localize the queries of DIR/queries.txt, print and save the evaluation.
# POSE_NEIGHBOURS=K (with QUERY_PAIRS=retrieval): then also pair each query with the K mapping images nearest its
# first pose (within 30 deg), match the new pairs and localize again over both (DIR/pairs-query-pose.txt):
# retrieval finds the place, the first pose finds the views that overlap the query most.
map_localize_evaluate() {
    local dir=$1 images=$2 features=$3 first="$1/results.txt"
    if [ "$QUERY_PAIRS" = retrieval ] && [ "${POSE_NEIGHBOURS:-0}" -gt 0 ]; then
        first="$dir/results-retrieval.txt"
    fi
    vloc match "$dir/pairs-mapping.txt" "$features" "$dir/matches-mapping.h5" --conf nn-ratio
    vloc match "$dir/pairs-query.txt" "$features" "$dir/matches-query.h5" --conf nn-ratio
    vloc triangulate "$dir/reference" "$images" "$dir/pairs-mapping.txt" "$features" "$dir/matches-mapping.h5" "$dir/model"
    vloc localize "$dir/model" "$dir/queries.txt" "$dir/pairs-query.txt" "$features" "$dir/matches-query.h5" "$first"
    if [ "$first" != "$dir/results.txt" ]; then
        vloc pairs from-poses "$dir/pairs-pose.txt" --model "$dir/model" --query-poses "$first" \
            --num "$POSE_NEIGHBOURS" --max-angle 30
        sort -u "$dir/pairs-query.txt" "$dir/pairs-pose.txt" > "$dir/pairs-query-pose.txt"
        vloc match "$dir/pairs-query-pose.txt" "$features" "$dir/matches-query.h5" --conf nn-ratio
        vloc localize "$dir/model" "$dir/queries.txt" "$dir/pairs-query-pose.txt" "$features" "$dir/matches-query.h5" \
            "$dir/results.txt"
    fi
    vloc evaluate "$dir/results.txt" "$dir/ground_truth.txt" --dataset-json "$dir/dataset.json" \
        --out-json "$dir/evaluation.json" --plot "$dir/errors.png"
}
