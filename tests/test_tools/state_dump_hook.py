"""A test-only hook: each rank saves what it holds, for the tool tests.

Loaded into training subprocesses through ``custom_imports`` (this folder is
put on PYTHONPATH). At ``before_train`` (after any resume) and
``after_train`` it writes ``<work_dir>/state_<stage>_rank<r>.pth`` with the
iteration, the model's buffers (the re-ID memories among them) and the
optimizer state.
"""
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmsearch.registry import HOOKS


@HOOKS.register_module()
class StateDumpHook(Hook):
    """Save iteration, buffers and optimizer state on every rank."""

    priority = 'VERY_LOW'

    def _dump(self, runner, stage: str) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        state = dict(
            iter=runner.iter,
            buffers={
                name: buf.detach().cpu().clone()
                for name, buf in model.named_buffers()
            },
            optimizer=runner.optim_wrapper.state_dict())
        torch.save(
            state,
            osp.join(runner.work_dir, f'state_{stage}_rank{get_rank()}.pth'))

    def before_train(self, runner) -> None:
        self._dump(runner, 'before_train')

    def after_train(self, runner) -> None:
        self._dump(runner, 'after_train')
