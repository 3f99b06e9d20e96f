from hloc import record
from vloc import pairs


def main(output, image_list=None, features=None, ref_list=None, ref_features=None):
    record("pairs_from_exhaustive", output, image_list=image_list, ref_list=ref_list)
    pairs.exhaustive(list(image_list), output, list(ref_list))
