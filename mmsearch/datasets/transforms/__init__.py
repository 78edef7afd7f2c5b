"""Person-search data transforms."""
from .formatting import PERSON_SEARCH_META_KEYS, PackPersonSearchInputs
from .loading import LoadPersonSearchAnnotations

__all__ = [
    'LoadPersonSearchAnnotations', 'PackPersonSearchInputs',
    'PERSON_SEARCH_META_KEYS'
]
