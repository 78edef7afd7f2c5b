"""The search page over a gallery index (optional: needs ``gradio``).

``build_search_app`` and ``launch_search_app`` import Gradio when first
used; the query and result helpers do not need it.
"""
from .query import (detect_people, format_box, parse_box, parse_time_range,
                    person_at)
from .results import (example_images, format_time, result_caption,
                      result_details)

__all__ = [
    'build_search_app', 'launch_search_app', 'detect_people', 'format_box',
    'parse_box', 'parse_time_range', 'person_at', 'example_images',
    'format_time', 'result_caption', 'result_details'
]


def __getattr__(name: str):
    """Import the Gradio app on first use of its names."""
    if name in ('build_search_app', 'launch_search_app', 'SearchPage'):
        try:
            from . import app
        except ModuleNotFoundError as error:
            if not str(error.name).startswith('gradio'):
                raise
            raise ImportError(
                f'mmsearch.web.{name} needs gradio: pip install -r '
                'requirements/web.txt (or pip install -e ".[web]")') from error
        return getattr(app, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
