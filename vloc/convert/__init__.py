"""vloc convert: datasets and maps made elsewhere (kapture, COLMAP, hloc, NVM) into the files the stages read, and
vloc's files into kapture. One module per source; `outputs` holds what most share (no silent overwrite, the
manifest)."""
