from pathlib import Path

from hloc import record
from vloc.extract import local_features

confs = {"sift": {"output": "feats-sift", "model": {"name": "dog"}, "preprocessing": {"grayscale": True}}}


def main(conf, image_dir, export_dir=None, as_half=True, image_list=None, feature_path=None, overwrite=False):
    record("extract_features", conf, image_dir, image_list=image_list, feature_path=feature_path)
    names = Path(feature_path).with_suffix(".txt")
    names.write_text("\n".join(image_list) + "\n")
    conf = local_features.conf_by_name("sift-colmap-octave0")  # as hloc's DoG
    return local_features.main(conf, Path(image_dir), Path(feature_path), names)
