"""Registration of mmsearch's modules and its default scope."""
import datetime
import warnings

from mmdet.utils import register_all_modules as register_mmdet_modules
from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every mmsearch (and mmdet) module so that it is registered.

    Args:
        init_default_scope (bool): Whether to make ``mmsearch`` the current
            default scope, so that registries build from mmsearch's nodes
            (falling back to mmdet's). Defaults to True.
    """
    register_mmdet_modules(init_default_scope=False)

    import mmsearch.datasets  # noqa: F401
    import mmsearch.engine  # noqa: F401
    import mmsearch.evaluation  # noqa: F401
    import mmsearch.models  # noqa: F401
    import mmsearch.visualization  # noqa: F401

    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    if current is None or not DefaultScope.check_instance_created('mmsearch'):
        DefaultScope.get_instance('mmsearch', scope_name='mmsearch')
        return
    if current.scope_name != 'mmsearch':
        warnings.warn(f'The current default scope "{current.scope_name}" is '
                      'not "mmsearch"; register_all_modules switches it to '
                      '"mmsearch".')
        DefaultScope.get_instance(
            f'mmsearch-{datetime.datetime.now()}', scope_name='mmsearch')
