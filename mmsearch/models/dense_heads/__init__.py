from .person_search_rpn_head import PersonSearchRPNHead

__all__ = ['PersonSearchRPNHead']
