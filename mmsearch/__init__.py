"""mmsearch: person search (joint detection and re-identification) on
MMDetection 3.x.

Importing ``mmsearch`` loads nothing else: the ONNX runtime
(``mmsearch.deployment.runtime``) and the torch-free core
(``mmsearch.structures``, ``mmsearch.fileio``) need neither PyTorch nor
mmcv/mmdet. The supported mmcv, mmengine and mmdet versions are checked by
``mmsearch.registry``, which every subpackage on the training stack imports.
"""
from .version import __version__

__all__ = ['__version__']
