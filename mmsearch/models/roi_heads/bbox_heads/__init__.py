from .person_search_bbox_head import PersonSearchBBoxHead

__all__ = ['PersonSearchBBoxHead']
