"""`vloc show`: a model's points and cameras, and the localized queries of a results file, in a 3D page that
opens offline."""
