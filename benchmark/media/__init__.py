"""Decoding raw inputs shared by upstreams and task readers: audio files and images."""
