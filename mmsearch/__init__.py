"""mmsearch: person search (joint detection and re-identification) on
MMDetection 3.x."""
from .version import __version__

try:
    import mmcv
    import mmdet
    import mmengine
    from mmengine.utils import digit_version
except ImportError:
    # mmsearch.deployment.runtime (ONNX models) needs none of them; every
    # other subpackage imports them itself and fails there.
    _REQUIRED = {}
else:
    _REQUIRED = {
        'mmcv': (mmcv.__version__, '2.1.0', '2.2.0'),
        'mmengine': (mmengine.__version__, '0.10.0', '1.0.0'),
        'mmdet': (mmdet.__version__, '3.3.0', '3.4.0'),
    }
for _name, (_found, _low, _high) in _REQUIRED.items():
    if not digit_version(_low) <= digit_version(_found) < digit_version(_high):
        raise ImportError(f'mmsearch needs {_low} <= {_name} < {_high}, '
                          f'found {_name}=={_found}.')

__all__ = ['__version__']
