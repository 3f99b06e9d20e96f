"""Training of dense feature networks (GN-Net losses)."""
