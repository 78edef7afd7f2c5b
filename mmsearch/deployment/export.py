"""Export a person-search model to ONNX: a gallery and a query model.

``export_onnx(model, out_dir)`` writes ``gallery.onnx`` (image -> boxes,
scores, embeddings of every detected person), ``query.onnx`` (image and
boxes -> embeddings) and ``deploy.json`` (how the runtime prepares an
image). The same JSON is stored in each model's ``metadata_props`` under
``mmsearch``, so a model file is self-describing. Both graphs use standard
ONNX operators only (opset :data:`ONNX_OPSET`); stock onnxruntime runs them
(:mod:`mmsearch.deployment.runtime`).
"""
import copy
import json
import os
import os.path as osp
import warnings
from typing import Dict, List, Optional

import numpy as np
import torch
from mmdet.utils import get_test_pipeline_cfg
from mmengine.config import Config
from torch import nn

from .graphs import UnsupportedModelError, build_graph, graph_output_names
from .ops import ONNX_OPSET

FORMAT_VERSION = 1
METADATA_KEY = 'mmsearch'
# Test-pipeline transforms the runtime does not need (no annotations).
_SKIPPED_TRANSFORMS = ('LoadAnnotations', 'LoadPersonSearchAnnotations',
                       'PackDetInputs', 'PackPersonSearchInputs')
_INTERPOLATIONS = ('nearest', 'bilinear', 'bicubic', 'area', 'lanczos')


def _transform_name(transform: dict) -> str:
    return str(transform['type']).split('.')[-1]


def _resize_spec(transform: dict) -> dict:
    """The runtime's resize from an mmdet ``Resize`` config."""
    if transform.get('scale') is None or transform.get(
            'scale_factor') is not None:
        raise UnsupportedModelError(
            'ONNX export: the test pipeline `Resize` must give `scale` '
            f'(and no `scale_factor`), got {transform}.')
    scale = transform['scale']
    scale = [int(scale), int(scale)] if isinstance(scale, (int, float)) \
        else [int(s) for s in scale]
    interpolation = transform.get('interpolation', 'bilinear')
    backend = transform.get('backend', 'cv2')
    if interpolation not in _INTERPOLATIONS or backend != 'cv2':
        raise UnsupportedModelError(
            'ONNX export: the test pipeline `Resize` must use the cv2 '
            f'backend and one of {_INTERPOLATIONS}, got '
            f'interpolation={interpolation!r}, backend={backend!r}.')
    return dict(
        scale=scale,
        keep_ratio=bool(transform.get('keep_ratio', False)),
        interpolation=interpolation)


def preprocess_spec(cfg: Config) -> dict:
    """How to prepare an image, from a config's test pipeline and model.

    Args:
        cfg (Config): A person-search config (``test_dataloader`` and
            ``model.data_preprocessor`` are read).

    Returns:
        dict: ``resize`` (``scale`` [w, h], ``keep_ratio``,
        ``interpolation``; None for no resize), ``bgr_to_rgb``, ``mean``,
        ``std`` (None: no normalisation), ``pad_size_divisor``,
        ``pad_value``. The runtime resizes; the graph does the rest.

    Raises:
        UnsupportedModelError: For a transform or preprocessor setting the
            runtime cannot reproduce.
    """
    resize = None
    for transform in get_test_pipeline_cfg(cfg):
        name = _transform_name(transform)
        if name in _SKIPPED_TRANSFORMS:
            continue
        if name == 'LoadImageFromFile':
            if transform.get('color_type', 'color') != 'color':
                raise UnsupportedModelError(
                    'ONNX export: `LoadImageFromFile` must read colour '
                    f'images, got color_type={transform["color_type"]!r}.')
        elif name == 'Resize' and resize is None:
            resize = _resize_spec(transform)
        else:
            raise UnsupportedModelError(
                f'ONNX export: test-pipeline transform `{name}` is not '
                'supported by the runtime (it reproduces LoadImageFromFile '
                'and one Resize).')
    preprocessor = copy.deepcopy(cfg.model.get('data_preprocessor', {}))
    name = str(preprocessor.get('type', 'DetDataPreprocessor')).split('.')[-1]
    if name != 'DetDataPreprocessor':
        raise UnsupportedModelError(
            f'ONNX export: data preprocessor `{name}` is not supported (use '
            'DetDataPreprocessor).')
    mean, std = preprocessor.get('mean'), preprocessor.get('std')
    if (mean is None) != (std is None):
        raise UnsupportedModelError(
            'ONNX export: the data preprocessor needs both mean and std, or '
            'neither.')
    return dict(
        resize=resize,
        bgr_to_rgb=bool(
            preprocessor.get('bgr_to_rgb', False)
            or preprocessor.get('rgb_to_bgr', False)),
        mean=None if mean is None else [float(m) for m in mean],
        std=None if std is None else [float(s) for s in std],
        pad_size_divisor=int(preprocessor.get('pad_size_divisor', 1)),
        pad_value=float(preprocessor.get('pad_value', 0)))


def _example_image(spec: dict) -> torch.Tensor:
    """A noise image of the configured aspect to trace the graphs with.

    At most 320 pixels on its short side: the graphs have dynamic sizes,
    and tracing at a large size only costs time.
    """
    width, height = (spec['resize']['scale'] if spec['resize'] else (320, 240))
    width, height = max(width, height), min(width, height)
    factor = min(1.0, 320 / height)
    width, height = int(width * factor), int(height * factor)
    generator = torch.Generator().manual_seed(0)
    return torch.randint(
        0, 256, (height, width, 3), generator=generator, dtype=torch.uint8)


def _add_metadata(path: str, metadata: Dict[str, str]) -> None:
    import onnx
    proto = onnx.load(path)
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, path)


def export_graph(graph: nn.Module, kind: str, path: str,
                 example: torch.Tensor) -> None:
    """Export one graph with dynamic image size (and box count).

    Args:
        graph (nn.Module): From :func:`build_graph`.
        kind (str): ``'gallery'`` or ``'query'``.
        path (str): Output ``.onnx`` file.
        example (Tensor): uint8 (H, W, 3) image to trace with.
    """
    if kind == 'gallery':
        args = (example, )
        input_names = ['image']
    else:
        height, width = example.shape[:2]
        box = torch.tensor(
            [[0.1 * width, 0.1 * height, 0.5 * width, 0.9 * height]])
        args = (example, box)
        input_names = ['image', 'boxes']
    output_names = list(graph_output_names(kind))
    dynamic_axes = {'image': {0: 'height', 1: 'width'}}
    if kind == 'query':
        dynamic_axes['boxes'] = {0: 'num_boxes'}
        dynamic_axes['embeddings'] = {0: 'num_boxes'}
    else:
        for name in output_names:
            dynamic_axes[name] = {0: 'num_dets'}
    trace_to_onnx(graph, args, path, input_names, output_names, dynamic_axes)


def trace_to_onnx(module: nn.Module, args: tuple, path: str,
                  input_names: List[str], output_names: List[str],
                  dynamic_axes: Dict[str, Dict[int, str]]) -> None:
    """``torch.onnx.export`` with the TorchScript-based exporter.

    That exporter turns the ``symbolic`` of the operators in
    :mod:`mmsearch.deployment.ops` into standard ONNX operators and needs
    only the ``onnx`` package (the dynamo-based one also needs
    ``onnxscript``).

    Args:
        module (nn.Module): Module to trace.
        args (tuple): Example inputs.
        path (str): Output ``.onnx`` file.
        input_names (list[str]): Names of the inputs.
        output_names (list[str]): Names of the outputs.
        dynamic_axes (dict): Dynamic axes per input/output name.
    """
    with warnings.catch_warnings():
        # The tracer warns about every shape it records; the shapes are
        # traced values here (dynamic axes), as the parity tests check.
        warnings.simplefilter('ignore')
        with torch.no_grad():
            torch.onnx.export(
                module,
                args,
                path,
                dynamo=False,
                opset_version=ONNX_OPSET,
                input_names=input_names,
                output_names=output_names,
                dynamic_axes=dynamic_axes,
                do_constant_folding=True)


def export_onnx(model: nn.Module,
                out_dir: str,
                cfg: Optional[Config] = None,
                example: Optional[np.ndarray] = None) -> Dict[str, str]:
    """Write the gallery and query ONNX models of a person-search model.

    Args:
        model (nn.Module): A :class:`PersonSearch` (e.g. from
            ``init_searcher``), moved to the CPU and eval mode here.
        out_dir (str): Output folder (created).
        cfg (Config, optional): Its config; defaults to ``model.cfg``.
        example (np.ndarray, optional): uint8 (H, W, 3) BGR image, already
            resized, to trace with; defaults to noise of the configured
            size. Sizes stay dynamic either way.

    Returns:
        dict: Paths of ``gallery``, ``query`` and ``deploy`` (the JSON).

    Raises:
        UnsupportedModelError: Naming a layer or setting that the graphs
            cannot express.
    """
    cfg = cfg if cfg is not None else getattr(model, 'cfg', None)
    if cfg is None:
        raise ValueError('export_onnx needs the config: pass cfg= or a '
                         'model from init_searcher (model.cfg).')
    spec = preprocess_spec(cfg)
    model = model.cpu().eval()
    if example is None:
        example = _example_image(spec)
    else:
        example = torch.from_numpy(np.ascontiguousarray(example))
    os.makedirs(out_dir, exist_ok=True)
    roi_head = model.roi_head
    deploy = dict(
        format_version=FORMAT_VERSION,
        preprocess=spec,
        embed_dim=int(roi_head.reid_head.embed_dim),
        score_thr=float(model.test_cfg.rcnn.score_thr),
        separate_reid_module=bool(roi_head.with_separate_reid_module),
        models=dict(gallery='gallery.onnx', query='query.onnx'),
        opset=ONNX_OPSET)
    paths = {}
    for kind in ('gallery', 'query'):
        path = osp.join(out_dir, deploy['models'][kind])
        export_graph(build_graph(model, kind, spec), kind, path, example)
        _add_metadata(path,
                      {METADATA_KEY: json.dumps(dict(deploy, kind=kind))})
        paths[kind] = path
    paths['deploy'] = osp.join(out_dir, 'deploy.json')
    with open(paths['deploy'], 'w') as f:
        json.dump(deploy, f, indent=2)
    return paths
