"""Likeness engine: face recognition and neural style transfer, usable without Qt."""
