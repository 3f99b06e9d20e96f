from hloc import record
from vloc.match import local_features
from vloc.matchers.pair_matcher import conf_by_name

confs = {
    "NN-ratio": {"output": "matches-NN-mutual-ratio.8", "model": {"name": "nearest_neighbor", "ratio_threshold": 0.8}}
}


def main(conf, pairs, features, export_dir=None, matches=None, features_ref=None, overwrite=False):
    record("match_features", conf, pairs, features, matches=matches)
    return local_features.main(conf_by_name("nn-ratio"), pairs, features, matches)
