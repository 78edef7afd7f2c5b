from .bbox_heads import PersonSearchBBoxHead
from .embedding_head import ReIDEmbeddingHead
from .person_search_roi_head import PersonSearchRoIHead
from .resnext_layer import ResNeXtLayer

__all__ = [
    'PersonSearchBBoxHead', 'PersonSearchRoIHead', 'ReIDEmbeddingHead',
    'ResNeXtLayer'
]
