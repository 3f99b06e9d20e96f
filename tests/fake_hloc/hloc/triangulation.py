from hloc import record
from vloc.mapping import triangulation


def main(sfm_dir, reference_model, image_dir, pairs, features, matches, skip_geometric_verification=False, **options):
    record("triangulation", sfm_dir, reference_model, image_dir, pairs, features, matches)
    conf = triangulation.TriangulationConf()
    return triangulation.main(conf, reference_model, image_dir, pairs, features, matches, sfm_dir)
