from .bbox_heads import (FP32PredictMixin, PersonSearchBBoxHead,
                         PersonSearchConvFCBBoxHead,
                         PersonSearchShared2FCBBoxHead)
from .embedding_head import ReIDEmbeddingHead
from .person_search_roi_head import PersonSearchRoIHead
from .shared_heads import BackboneLastStage, ResNeXtLayer, RoIConvHead

__all__ = [
    'BackboneLastStage', 'FP32PredictMixin', 'PersonSearchBBoxHead',
    'PersonSearchConvFCBBoxHead', 'PersonSearchShared2FCBBoxHead',
    'PersonSearchRoIHead', 'ReIDEmbeddingHead', 'ResNeXtLayer', 'RoIConvHead'
]
