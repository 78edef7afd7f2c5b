"""Helpers shared by the tests, benchmarks and check scripts."""
from .dist import multiprocess_env
from .search_results import evaluate_fake_search, fake_search_samples
from .tools import load_tool_module

__all__ = [
    'evaluate_fake_search', 'fake_search_samples', 'load_tool_module',
    'multiprocess_env'
]
