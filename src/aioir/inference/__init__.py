"""Inference: restore images (whole or tiled) and export the plain backbone."""
