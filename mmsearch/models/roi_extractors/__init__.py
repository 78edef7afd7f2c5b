from .person_search_roi_extractor import PersonSearchRoIExtractor

__all__ = ['PersonSearchRoIExtractor']
