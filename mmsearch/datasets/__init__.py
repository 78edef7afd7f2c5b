"""Person-search datasets, transforms, pairing and synthetic data."""
from .base_person_search import PersonSearchDataset, xywh_to_instances
from .cuhk_sysu import CUHKSYSUDataset
from .person_search_json import (PersonSearchJSONDataset, data_infos_to_json,
                                 parse_annotations)
from .prw import PRWDataset
from .raw_io import DatasetLayoutError
from .samplers import PairSampler, PersonSearchPairDataset, pair_collate
from .transforms import LoadPersonSearchAnnotations, PackPersonSearchInputs

__all__ = [
    'PersonSearchDataset', 'CUHKSYSUDataset', 'PRWDataset',
    'PersonSearchJSONDataset', 'data_infos_to_json', 'parse_annotations',
    'DatasetLayoutError', 'xywh_to_instances', 'PersonSearchPairDataset',
    'PairSampler', 'pair_collate', 'LoadPersonSearchAnnotations',
    'PackPersonSearchInputs'
]
