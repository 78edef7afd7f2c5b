"""mmengine metrics of mmsearch."""
from .person_search_metric import PersonSearchMetric
from .result_collection import collect_unique_results

__all__ = ['PersonSearchMetric', 'collect_unique_results']
