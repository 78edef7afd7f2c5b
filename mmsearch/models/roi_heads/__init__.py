from .bbox_heads import PersonSearchBBoxHead
from .embedding_head import ReIDEmbeddingHead
from .person_search_roi_head import PersonSearchRoIHead
from .resnext_layer import ResNeXtLayer
from .shared_heads import BackboneLastStage

__all__ = [
    'BackboneLastStage', 'PersonSearchBBoxHead', 'PersonSearchRoIHead',
    'ReIDEmbeddingHead', 'ResNeXtLayer'
]
