from .layer_decay import StageRouteLayerDecayOptimWrapperConstructor
from .stage_split_trunk import StageSplitPart, StageSplitTrunk
from .stage_splits import (STAGE_SPLITS, StageSplit, get_stage_split,
                           prune_backbone, register_stage_split)

__all__ = [
    'STAGE_SPLITS', 'StageRouteLayerDecayOptimWrapperConstructor',
    'StageSplit', 'StageSplitPart', 'StageSplitTrunk', 'get_stage_split',
    'prune_backbone', 'register_stage_split'
]
