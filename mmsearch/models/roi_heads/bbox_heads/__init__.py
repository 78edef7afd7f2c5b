from .person_search_bbox_head import (FP32PredictMixin, PersonSearchBBoxHead,
                                      PersonSearchConvFCBBoxHead,
                                      PersonSearchShared2FCBBoxHead)

__all__ = [
    'FP32PredictMixin', 'PersonSearchBBoxHead', 'PersonSearchConvFCBBoxHead',
    'PersonSearchShared2FCBBoxHead'
]
