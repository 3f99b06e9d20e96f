"""Training of vloc's own networks: GN-Net dense features and the LBR segmentation recognizer."""
