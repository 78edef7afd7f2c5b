"""Helpers of the ONNX export tests (kept for old imports): the library
holds them, :mod:`mmsearch.deployment.calibration` and
:func:`mmsearch.structures.match_boxes`."""
from mmsearch.deployment.calibration import draw_person_scene, make_detecting
from mmsearch.structures import match_boxes

__all__ = ['draw_person_scene', 'make_detecting', 'match_boxes']
