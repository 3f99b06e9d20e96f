import pycolmap

from hloc import record
from vloc import pairs


def main(model, output, num_matched, rotation_threshold=30):
    record("pairs_from_poses", model, output, num_matched)
    images = pycolmap.Reconstruction(model).images.values()
    pairs.from_poses({image.name: image.cam_from_world() for image in images}, output, num_matched)
