"""Runner loops and hooks of mmsearch."""
from .person_search_test_loop import PersonSearchTestLoop

__all__ = ['PersonSearchTestLoop']
