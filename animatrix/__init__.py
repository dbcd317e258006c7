"""AniMatrix-style dual-channel (PKS tags + text) video generator: data, model, trainer and inference.

``data`` streams the curate job's WebDataset shards, ``model`` the
pixel-space flow-matching diffusion transformer, ``train`` the trainer, ``generate`` dual classifier-free
guidance sampling, ``closed_loop`` the camera-movement check of generated clips.
"""
