"""Runner loops, hooks and optimizer wrapper constructors of mmsearch."""
from .optimizers import StageRouteLayerDecayOptimWrapperConstructor
from .person_id_check_hook import (PersonIdCheckHook, check_num_person_ids,
                                   count_train_identities)
from .person_search_test_loop import (PersonSearchTestLoop,
                                      PersonSearchValLoop,
                                      evaluate_gallery_and_queries,
                                      query_dataloader_cfg,
                                      search_metrics_first)

__all__ = [
    'PersonIdCheckHook', 'check_num_person_ids', 'count_train_identities',
    'PersonSearchTestLoop', 'PersonSearchValLoop',
    'evaluate_gallery_and_queries', 'query_dataloader_cfg',
    'search_metrics_first', 'StageRouteLayerDecayOptimWrapperConstructor'
]
