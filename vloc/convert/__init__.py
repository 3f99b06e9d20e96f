"""vloc convert: datasets and maps made elsewhere (kapture, COLMAP, hloc) into the files the stages read, and vloc's
files into kapture. One module per source; `outputs` holds what they share (no silent overwrite, the manifest)."""
