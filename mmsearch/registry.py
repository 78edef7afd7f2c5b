"""mmsearch's registries: one child of each mmdet registry.

A config built in the ``mmsearch`` scope finds mmsearch's own modules first,
then falls back to mmdet's and mmengine's, so ``dict(type='ResNet')`` and
``dict(type='PersonSearch')`` both work from an mmsearch config.
"""
import mmcv
import mmdet
import mmengine
from mmdet.registry import DATA_SAMPLERS as MMDET_DATA_SAMPLERS
from mmdet.registry import DATASETS as MMDET_DATASETS
from mmdet.registry import EVALUATOR as MMDET_EVALUATOR
from mmdet.registry import HOOKS as MMDET_HOOKS
from mmdet.registry import LOG_PROCESSORS as MMDET_LOG_PROCESSORS
from mmdet.registry import LOOPS as MMDET_LOOPS
from mmdet.registry import METRICS as MMDET_METRICS
from mmdet.registry import MODEL_WRAPPERS as MMDET_MODEL_WRAPPERS
from mmdet.registry import MODELS as MMDET_MODELS
from mmdet.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMDET_OPTIM_WRAPPER_CONSTRUCTORS
from mmdet.registry import OPTIM_WRAPPERS as MMDET_OPTIM_WRAPPERS
from mmdet.registry import OPTIMIZERS as MMDET_OPTIMIZERS
from mmdet.registry import PARAM_SCHEDULERS as MMDET_PARAM_SCHEDULERS
from mmdet.registry import RUNNER_CONSTRUCTORS as MMDET_RUNNER_CONSTRUCTORS
from mmdet.registry import RUNNERS as MMDET_RUNNERS
from mmdet.registry import TASK_UTILS as MMDET_TASK_UTILS
from mmdet.registry import TRANSFORMS as MMDET_TRANSFORMS
from mmdet.registry import VISBACKENDS as MMDET_VISBACKENDS
from mmdet.registry import VISUALIZERS as MMDET_VISUALIZERS
from mmdet.registry import WEIGHT_INITIALIZERS as MMDET_WEIGHT_INITIALIZERS
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import Registry
from mmengine.utils import digit_version

# The versions mmsearch is tested with: [low, high).
_REQUIRED = {
    'mmcv': (mmcv.__version__, '2.1.0', '2.2.0'),
    'mmengine': (mmengine.__version__, '0.10.0', '1.0.0'),
    'mmdet': (mmdet.__version__, '3.3.0', '3.4.0'),
}
for _name, (_found, _low, _high) in _REQUIRED.items():
    if not digit_version(_low) <= digit_version(_found) < digit_version(_high):
        raise ImportError(f'mmsearch needs {_low} <= {_name} < {_high}, '
                          f'found {_name}=={_found}.')

RUNNERS = Registry(
    'runner', parent=MMDET_RUNNERS, locations=['mmsearch.engine'])
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor',
    parent=MMDET_RUNNER_CONSTRUCTORS,
    locations=['mmsearch.engine'])
LOOPS = Registry('loop', parent=MMDET_LOOPS, locations=['mmsearch.engine'])
HOOKS = Registry('hook', parent=MMDET_HOOKS, locations=['mmsearch.engine'])

DATASETS = Registry(
    'dataset', parent=MMDET_DATASETS, locations=['mmsearch.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler',
    parent=MMDET_DATA_SAMPLERS,
    locations=['mmsearch.datasets.samplers'])
TRANSFORMS = Registry(
    'transform',
    parent=MMDET_TRANSFORMS,
    locations=['mmsearch.datasets.transforms'])
FUNCTIONS = Registry(
    'function', parent=MMENGINE_FUNCTIONS, locations=['mmsearch.datasets'])

MODELS = Registry('model', parent=MMDET_MODELS, locations=['mmsearch.models'])
MODEL_WRAPPERS = Registry(
    'model_wrapper',
    parent=MMDET_MODEL_WRAPPERS,
    locations=['mmsearch.models'])
WEIGHT_INITIALIZERS = Registry(
    'weight initializer',
    parent=MMDET_WEIGHT_INITIALIZERS,
    locations=['mmsearch.models'])
TASK_UTILS = Registry(
    'task util', parent=MMDET_TASK_UTILS, locations=['mmsearch.models'])

OPTIMIZERS = Registry(
    'optimizer', parent=MMDET_OPTIMIZERS, locations=['mmsearch.engine'])
OPTIM_WRAPPERS = Registry(
    'optim_wrapper',
    parent=MMDET_OPTIM_WRAPPERS,
    locations=['mmsearch.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMDET_OPTIM_WRAPPER_CONSTRUCTORS,
    locations=['mmsearch.engine'])
PARAM_SCHEDULERS = Registry(
    'parameter scheduler',
    parent=MMDET_PARAM_SCHEDULERS,
    locations=['mmsearch.engine'])

# How each staged backbone family splits into a stride-16 trunk and its
# last stage (StageSplitTrunk / BackboneLastStage); mmsearch's own registry.
STAGE_SPLITS = Registry('stage split', locations=['mmsearch.models.backbones'])

METRICS = Registry(
    'metric', parent=MMDET_METRICS, locations=['mmsearch.evaluation'])
EVALUATOR = Registry(
    'evaluator', parent=MMDET_EVALUATOR, locations=['mmsearch.evaluation'])

VISUALIZERS = Registry(
    'visualizer',
    parent=MMDET_VISUALIZERS,
    locations=['mmsearch.visualization'])
VISBACKENDS = Registry(
    'vis_backend',
    parent=MMDET_VISBACKENDS,
    locations=['mmsearch.visualization'])
LOG_PROCESSORS = Registry(
    'log_processor',
    parent=MMDET_LOG_PROCESSORS,
    locations=['mmsearch.engine'])
