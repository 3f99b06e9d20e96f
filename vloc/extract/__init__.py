"""`vloc extract`: local features, dense feature pyramids and global descriptors of images, into HDF5 files."""
