from .person_search import PersonSearch

__all__ = ['PersonSearch']
