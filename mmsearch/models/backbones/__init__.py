from .stage_split_trunk import StageSplitPart, StageSplitTrunk
from .stage_splits import (StageSplit, get_stage_split, prune_backbone,
                           stage_splits_by_backbone)

__all__ = [
    'StageSplit', 'StageSplitPart', 'StageSplitTrunk', 'get_stage_split',
    'prune_backbone', 'stage_splits_by_backbone'
]
