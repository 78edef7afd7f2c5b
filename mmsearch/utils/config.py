"""Command-line overrides that reach every place a setting is used.

mmengine reads a config file once: a top-level variable such as
``data_root = 'data/prw/'`` is copied into every dict that names it (the
datasets of each dataloader) while the file is parsed. Overriding the
variable afterwards (``--cfg-options data_root=...``) changes only the
top-level copy, which nothing reads, and the dumped config even shows the
new value. :func:`check_cfg_options` refuses such overrides before they are
merged, and :func:`set_data_root` is the supported way to move every split
to another dataset folder.
"""
from typing import Any, Iterator, List, Mapping, Optional, Tuple

from mmengine.config import Config

# Top-level non-dict keys that mmengine's Runner (or the mmsearch tools) read
# after the file is parsed: overriding them works.
RUNTIME_KEYS = frozenset({
    'work_dir', 'load_from', 'resume', 'launcher', 'log_level',
    'default_scope', 'experiment_name', 'sync_bn', 'find_unused_parameters',
    'activation_checkpointing', 'efficient_conv_bn_eval', 'compile',
    'runner_type', 'model_wrapper_cfg', 'randomness', 'env_cfg',
    'auto_scale_lr', 'custom_hooks', 'param_scheduler', 'visualizer',
    'log_processor', 'default_hooks'
})

# Top-level variables of the method configs and the one key that uses each:
# the re-ID losses take feat_dim from the embedding head's embed_dim and
# num_person_ids from the RoI head's (which the configs copy from the
# dataset config's num_person_ids). Other keys may hold the same number by
# chance (256 channels), so these are named rather than found by value.
VARIABLE_USES = {
    'num_person_ids': 'model.roi_head.num_person_ids',
    'embed_dim': 'model.roi_head.reid_head.embed_dim',
}


def dataloader_paths(cfg: Mapping) -> List[Tuple[str, Mapping]]:
    """The dataloader configs of a run, with their dotted paths.

    Top-level keys ending in ``dataloader`` (``train_dataloader``,
    ``val_dataloader``, ``test_dataloader``) and the same inside the loop
    configs (``test_cfg.query_dataloader``, ``val_cfg.query_dataloader``).

    Args:
        cfg (Mapping): The parsed config.

    Returns:
        list[tuple[str, Mapping]]: ``(path, dataloader config)`` pairs.
    """
    found = []
    for key, value in cfg.items():
        if not isinstance(value, Mapping):
            continue
        if key.endswith('dataloader'):
            found.append((key, value))
        elif key.endswith('_cfg'):
            found.extend((f'{key}.{sub}', sub_value)
                         for sub, sub_value in value.items()
                         if sub.endswith('dataloader')
                         and isinstance(sub_value, Mapping))
    return found


def _leaf_datasets(dataset: Any, path: str) -> Iterator[Tuple[str, dict]]:
    """Datasets under a dataset config, through wrappers (``dataset`` /
    ``datasets`` children), with their dotted paths."""
    if isinstance(dataset, (list, tuple)):
        for index, item in enumerate(dataset):
            yield from _leaf_datasets(item, f'{path}.{index}')
        return
    if not isinstance(dataset, Mapping):
        return
    children = [key for key in ('dataset', 'datasets') if key in dataset]
    if not children:
        yield path, dataset
    for key in children:
        yield from _leaf_datasets(dataset[key], f'{path}.{key}')


def set_data_root(cfg: Config, data_root: str) -> List[str]:
    """Point the dataset of every dataloader at ``data_root``.

    Every leaf dataset (inside wrappers such as the pair dataset or a
    concatenation) of every dataloader (train, val, test, query) gets
    ``data_root``; the top-level ``data_root`` variable is set too, so the
    dumped config shows what was used.

    Args:
        cfg (Config): The parsed config, changed in place.
        data_root (str): The dataset folder.

    Returns:
        list[str]: Dotted paths of the ``data_root`` keys set.

    Raises:
        ValueError: If the config has no dataloader with a dataset.
    """
    changed = []
    for loader_path, loader in dataloader_paths(cfg):
        for path, dataset in _leaf_datasets(
                loader.get('dataset'), f'{loader_path}.dataset'):
            dataset['data_root'] = data_root
            changed.append(f'{path}.data_root')
    if not changed:
        raise ValueError(
            f'--data-root {data_root}: the config has no dataloader with a '
            'dataset (train_dataloader, test_dataloader, '
            'test_cfg.query_dataloader, ...) to point at it.')
    if 'data_root' in cfg:
        cfg.data_root = data_root
    return changed


def _has_path(cfg: Mapping, path: str) -> bool:
    """Whether the dotted ``path`` of mapping keys exists in ``cfg``."""
    node = dict(cfg.items())  # a Config is not a Mapping
    for key in path.split('.'):
        if not isinstance(node, Mapping) or key not in node:
            return False
        node = node[key]
    return True


def _paths_holding(value: Any, tree: Any, path: str = '') -> Iterator[str]:
    """Dotted paths in ``tree`` whose value equals ``value``."""
    if isinstance(tree, Mapping):
        items = tree.items()
    elif isinstance(tree, (list, tuple)):
        items = enumerate(tree)
    else:
        return
    for key, sub in items:
        sub_path = f'{path}.{key}' if path else str(key)
        try:
            equal = type(sub) is type(value) and bool(sub == value)
        except (TypeError, ValueError):  # arrays and the like
            equal = False
        if equal:
            yield sub_path
        else:
            yield from _paths_holding(value, sub, sub_path)


def check_cfg_options(cfg: Config,
                      cfg_options: Optional[Mapping[str, Any]],
                      data_root_option: Optional[str] = '--data-root') -> None:
    """Refuse overrides of config variables that nothing reads any more.

    A key of ``cfg_options`` whose first component is a top-level variable
    of ``cfg`` that is not a dict (a string, number, list, None, ...) and
    not read at run time (:data:`RUNTIME_KEYS`) was already copied where it
    is used when the file was parsed; merging the override would change
    nothing but the top-level copy. The message names the key to override:
    for the variables of :data:`VARIABLE_USES` the one key that uses each
    (e.g. ``model.roi_head.num_person_ids``), otherwise the settings that
    hold the same value.

    Args:
        cfg (Config): The parsed config, before the overrides are merged.
        cfg_options (Mapping[str, Any], optional): ``{dotted key: value}``
            from ``--cfg-options``.
        data_root_option (str, optional): The caller's option that sets the
            dataset folder of every split, advised for ``data_root``.
            Defaults to '--data-root'.

    Raises:
        ValueError: Naming the ignored keys, the settings that hold the
        variable's value, and what to override instead.
    """
    problems = []
    for full_key in cfg_options or {}:
        name = full_key.split('.')[0]
        if name in RUNTIME_KEYS or name not in cfg:
            continue
        value = cfg[name]
        if isinstance(value, Mapping):
            continue
        copies = []
        by_value = True
        if name in VARIABLE_USES and _has_path(cfg, VARIABLE_USES[name]):
            copies, by_value = [VARIABLE_USES[name]], False
        elif value is not None and not isinstance(value, bool):
            rest = {k: v for k, v in cfg.items() if k != name}
            copies = list(_paths_holding(value, rest))
        if name == 'data_root' and data_root_option:
            advice = (f'use {data_root_option} {cfg_options[full_key]} '
                      'instead, which sets it in every dataset')
        elif copies:
            advice = 'override those keys instead, e.g. ' + ' '.join(
                f'{path}={cfg_options[full_key]}' for path in copies[:2])
        else:
            advice = 'nothing reads it; override the keys that use it'
        listed = (f'{", ".join(copies[:5])}'
                  f'{" ..." if len(copies) > 5 else ""}')
        if not copies:
            where = 'no setting reads it at run time'
        elif by_value and isinstance(value, (int, float)):
            # a number may equal an unrelated setting
            where = (f'it was copied where it is used when the file was '
                     f'read; the settings that hold its value are {listed}')
        else:
            where = f'it was copied into {listed} when the file was read'
        problems.append(f'{full_key}: {name} is a variable of the config '
                        f'file and {where}; {advice}.')
    if problems:
        raise ValueError('--cfg-options would change nothing:\n  ' +
                         '\n  '.join(problems))
