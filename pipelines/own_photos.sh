#!/usr/bin/env bash
# Your own photos: a map from a folder of mapping photos, then the pose of each photo of a folder of query photos,
# with no intrinsics written by hand (EXIF, else a prior; focal lengths estimated with the poses), and a 3D view.
# Usage: pipelines/own_photos.sh MAP_PHOTOS QUERY_PHOTOS [OUT]   (OUT default outputs/own_photos)
# Results: OUT/located/results.txt (hloc format, in the map's frame) and its log; OUT/scene.html (open in a browser).
set -euo pipefail
MAP_PHOTOS=$1
QUERY_PHOTOS=$2
OUT=${3:-outputs/own_photos}

vloc map "$MAP_PHOTOS" "$OUT/map"
vloc locate "$OUT/map" "$QUERY_PHOTOS" "$OUT/located"
vloc show "$OUT/map/model" "$OUT/scene.html" --results "$OUT/located/results.txt"
