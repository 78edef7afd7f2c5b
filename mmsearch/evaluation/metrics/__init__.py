"""mmengine metrics of mmsearch."""
from .dump_search_results import DumpSearchResults
from .person_search_metric import PersonSearchMetric
from .result_collection import collect_unique_results

__all__ = ['DumpSearchResults', 'PersonSearchMetric', 'collect_unique_results']
