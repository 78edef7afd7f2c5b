"""The RoI head of person search: detection plus re-ID embedding."""
import inspect
from typing import List, Optional, Tuple

import torch
from mmdet.models.roi_heads import StandardRoIHead
from mmdet.models.task_modules.samplers import SamplingResult
from mmdet.models.utils import unpack_gt_instances
from mmdet.structures import SampleList
from mmdet.structures.bbox import bbox2roi, get_box_tensor, scale_boxes
from mmdet.utils import ConfigType, InstanceList, OptConfigType
from torch import Tensor, nn

from mmsearch.registry import MODELS
from ..losses import BaseReIDLoss


def check_pair_batch(batch_data_samples: SampleList) -> None:
    """Check that a batch is made of Siamese pairs.

    Images ``2k`` and ``2k + 1`` must be partners: metainfo ``pair_index``
    equal to ``k`` and ``pair_position`` equal to 0 and 1.

    Args:
        batch_data_samples (list[DetDataSample]): The batch.

    Raises:
        ValueError: If the batch is odd or a sample lacks or breaks the pair
            metainfo.
    """
    num_imgs = len(batch_data_samples)
    hint = ('Paired re-ID losses need batches of image pairs: wrap the '
            'training dataset in the pair dataset wrapper and use its '
            'collate function.')
    if num_imgs % 2 != 0:
        raise ValueError(f'{hint} Got an odd batch of {num_imgs} images.')
    for i, sample in enumerate(batch_data_samples):
        pair_index = sample.metainfo.get('pair_index')
        pair_position = sample.metainfo.get('pair_position')
        if pair_index is None or pair_position is None:
            raise ValueError(f'{hint} Sample {i} of the batch has no '
                             '`pair_index`/`pair_position` metainfo.')
        if pair_index != i // 2 or pair_position != i % 2:
            raise ValueError(
                f'{hint} Sample {i} should have pair_index={i // 2} and '
                f'pair_position={i % 2}, got pair_index={pair_index} and '
                f'pair_position={pair_position}.')


def init_parameter(cls: type, name: str) -> Optional[inspect.Parameter]:
    """The ``__init__`` parameter ``name`` of ``cls``, through ``**kwargs``.

    A subclass whose ``__init__`` forwards ``**kwargs`` to its parent takes
    the parent's parameters too: the MRO is walked while ``**kwargs`` is
    there.

    Args:
        cls (type): The class.
        name (str): The parameter name.

    Returns:
        inspect.Parameter | None: The parameter, None if ``cls`` does not
        take it.
    """
    for klass in cls.__mro__:
        if '__init__' not in vars(klass):
            continue
        try:
            params = inspect.signature(vars(klass)['__init__']).parameters
        except (TypeError, ValueError):  # builtins
            return None
        if name in params:
            return params[name]
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            return None
    return None


def build_reid_loss(loss_cfg: ConfigType,
                    index: int,
                    default_args: Optional[dict] = None) -> BaseReIDLoss:
    """Build ``reid_losses[index]`` and check that it is a re-ID loss.

    A re-ID loss is called as ``loss(reid_feats, person_ids,
    image_indices)`` and named by its ``loss_name``: a subclass of
    :class:`~mmsearch.models.losses.BaseReIDLoss`. Other losses (e.g.
    ``mmdet.CrossEntropyLoss``) would build and then fail at the first
    training iteration.

    ``default_args`` fill the keys the loss config leaves out, as mmdet
    builds sub-modules: only those the loss class takes (``OLPLoss`` takes
    ``feat_dim`` but no ``num_person_ids``), and a value written in the
    loss config wins. A default of None is no default.

    Args:
        loss_cfg (dict): The loss config.
        index (int): Its position in ``reid_losses`` (for the message).
        default_args (dict, optional): e.g. ``dict(feat_dim=256,
            num_person_ids=5532)``.

    Returns:
        BaseReIDLoss: The built loss.

    Raises:
        ValueError: If the loss needs ``num_person_ids`` and neither its
            config nor ``default_args`` gives it.
        TypeError: If the built module is not a re-ID loss.
    """
    loss_type = (
        loss_cfg.get('type') if isinstance(loss_cfg, dict) else loss_cfg)
    loss_cls = MODELS.get(loss_type) if isinstance(loss_type,
                                                   str) else loss_type
    defaults = {}
    if isinstance(loss_cls, type) and isinstance(loss_cfg, dict):
        for name, value in (default_args or {}).items():
            param = init_parameter(loss_cls, name)
            if param is None or name in loss_cfg:
                continue
            if value is not None:
                defaults[name] = value
            elif param.default is param.empty:
                raise ValueError(
                    f'PersonSearchRoIHead: reid_losses[{index}] '
                    f'({loss_cls.__name__}) needs `{name}` and the config '
                    f'gives none: set model.roi_head.{name} (for '
                    'num_person_ids: the number of labelled training '
                    'identities, which the dataset configs define as '
                    '`num_person_ids`), or the loss\'s own key.')
    loss = MODELS.build(loss_cfg, default_args=defaults or None)
    if not isinstance(loss, BaseReIDLoss):
        raise TypeError(
            f'PersonSearchRoIHead: reid_losses[{index}] has type '
            f'{loss_type!r} ({type(loss).__module__}.{type(loss).__name__}), '
            'which is not a re-ID loss. reid_losses takes re-ID losses '
            'called as loss(reid_feats, person_ids, image_indices) with a '
            '`loss_name`: subclasses of mmsearch.models.losses.BaseReIDLoss '
            'such as OIMLoss, OLPLoss, HEPLoss or C2HEPLoss. Detection '
            'losses belong in rpn_head/bbox_head.')
    return loss


@MODELS.register_module()
class PersonSearchRoIHead(StandardRoIHead):
    """RoI head with a detection module and a retrieval module.

    The detection module is ``shared_head`` (optional) then ``bbox_head``
    (person/background classification and box regression); the retrieval
    module maps RoIAlign features to unit-norm embeddings: a module on the
    RoI features then ``reid_head`` (pooling, linear, BN1d, L2 norm).

    - C4 route: ``shared_head`` is the backbone's last stage (res5) on
      14 x 14 RoIs from the stride-16 trunk, ``bbox_head`` pools and
      classifies.
    - Neck route: RoIs pooled from several neck levels (FPN, mmdet's
      finest-scale level mapping); no backbone stage follows, so
      ``bbox_head`` is e.g. :class:`PersonSearchShared2FCBBoxHead` on the
      RoI features, with or without a small ``shared_head``
      (:class:`RoIConvHead`).

    Which module the retrieval uses:

    - I-Net / OIM (``reid_shared_head=None``): the detection module's
      ``shared_head`` (one set of weights for both tasks), or the RoI
      features themselves when there is no ``shared_head``.
    - DC-I-Net (``reid_shared_head`` a config): its own module (a res5 copy
      in the C4 route, e.g. a :class:`RoIConvHead` in the neck route), so
      detection and retrieval share only the trunk, neck and RPN.

    In training the re-ID losses see the embeddings of the sampled positive
    RoIs (IoU >= the assigner's ``pos_iou_thr`` with a gt person, the gt
    boxes included by the sampler) labelled with that gt's ``person_id``
    (-1 for unlabelled persons), and the index of each RoI's image in the
    batch. At test time the embeddings are computed on the final, regressed
    and NMS'ed detection boxes.

    Args:
        reid_head (dict): Config of the embedding head, e.g.
            ``dict(type='ReIDEmbeddingHead', in_channels=2048,
            embed_dim=256)``.
        reid_losses (list[dict]): Configs of the re-ID losses (subclasses of
            :class:`~mmsearch.models.losses.BaseReIDLoss`), each called
            as ``loss(reid_feats, person_ids, image_indices)`` and named by
            its ``loss_name``. Each is built with the default arguments
            ``feat_dim`` = ``reid_head``'s ``embed_dim`` and
            ``num_person_ids`` (below), for the losses that take them; a
            value written in a loss config wins.
        num_person_ids (int, optional): Number of labelled training
            identities (ids 0..K-1), which sizes the lookup tables, class
            centres and classifier weights of the losses that take it. The
            method configs copy it from the dataset config's
            ``num_person_ids``. Defaults to None (then every loss that
            needs it must set it).
        reid_shared_head (dict, optional): Config of the retrieval
            module's own RoI module (DC-I-Net). None shares ``shared_head``
            (or, without one, uses the RoI features). Defaults to None.
        require_pairs (bool): Whether the losses need Siamese pairs (images
            ``2k``, ``2k + 1``); the batch is then checked. Defaults to
            False.
        **kwargs: Arguments of :class:`StandardRoIHead` (``shared_head``
            optional).
    """

    def __init__(self,
                 reid_head: ConfigType,
                 reid_losses: List[ConfigType],
                 num_person_ids: Optional[int] = None,
                 reid_shared_head: OptConfigType = None,
                 require_pairs: bool = False,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if not isinstance(reid_losses, (list, tuple)) or not reid_losses:
            raise ValueError('PersonSearchRoIHead: `reid_losses` must be a '
                             f'non-empty list of loss configs, got '
                             f'{reid_losses!r}.')
        if reid_shared_head is not None:
            self.reid_shared_head = MODELS.build(reid_shared_head)
        self.reid_head = MODELS.build(reid_head)
        self.num_person_ids = num_person_ids
        embed_dim = getattr(self.reid_head, 'embed_dim', None)
        self.reid_losses = nn.ModuleList(
            build_reid_loss(
                loss_cfg, i,
                dict(feat_dim=embed_dim, num_person_ids=num_person_ids))
            for i, loss_cfg in enumerate(reid_losses))
        for i, loss in enumerate(self.reid_losses):
            if embed_dim is not None and loss.feat_dim != embed_dim:
                raise ValueError(
                    f'PersonSearchRoIHead: reid_losses[{i}] '
                    f'({type(loss).__name__}) has feat_dim={loss.feat_dim} '
                    f'but reid_head embeds to embed_dim={embed_dim}: drop '
                    'feat_dim from the loss config (it defaults to the '
                    'embedding size) or make the two equal.')
        self.require_pairs = require_pairs

    @property
    def with_separate_reid_module(self) -> bool:
        """bool: whether retrieval has its own RoI module (DC-I-Net)."""
        return getattr(self, 'reid_shared_head', None) is not None

    @property
    def reid_roi_module(self) -> nn.Module:
        """nn.Module: what the retrieval runs on the RoI features before
        ``reid_head``: ``reid_shared_head``, else ``shared_head``, else
        nothing (``nn.Identity``)."""
        if self.with_separate_reid_module:
            return self.reid_shared_head
        if self.with_shared_head:
            return self.shared_head
        return nn.Identity()

    def _reid_forward(self, x: Tuple[Tensor], rois: Tensor) -> Tensor:
        """Embed RoIs through the retrieval module.

        Args:
            x (tuple[Tensor]): Trunk or neck features, each (B, C, H, W).
            rois (Tensor): RoIs (n, 5) as (image index, x1, y1, x2, y2) in
                the coordinates of the network input.

        Returns:
            Tensor: Unit-norm embeddings, shape (n, D).
        """
        roi_feats = self.bbox_roi_extractor(
            x[:self.bbox_roi_extractor.num_inputs], rois)
        return self.reid_head(self.reid_roi_module(roi_feats))

    def loss(self, x: Tuple[Tensor], rpn_results_list: InstanceList,
             batch_data_samples: SampleList) -> dict:
        """Detection and re-ID losses of a batch.

        Args:
            x (tuple[Tensor]): Trunk or neck features, each (B, C, H, W).
            rpn_results_list (list[InstanceData]): Proposals per image.
            batch_data_samples (list[DetDataSample]): The batch; each
                ``gt_instances`` must hold ``person_ids``.

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_bbox``, ``acc`` and one
            entry per re-ID loss (its ``loss_name``).
        """
        if len(rpn_results_list) != len(batch_data_samples):
            raise ValueError(
                f'PersonSearchRoIHead.loss: {len(rpn_results_list)} proposal '
                f'lists for {len(batch_data_samples)} images.')
        if self.require_pairs:
            check_pair_batch(batch_data_samples)
        batch_gt_instances, batch_gt_instances_ignore, _ = \
            unpack_gt_instances(batch_data_samples)
        for i, gt_instances in enumerate(batch_gt_instances):
            if 'person_ids' not in gt_instances:
                raise KeyError(
                    f'PersonSearchRoIHead.loss: sample {i} has no '
                    '`gt_instances.person_ids`; load annotations with '
                    'LoadPersonSearchAnnotations and pack them with '
                    'PackPersonSearchInputs.')

        sampling_results = []
        for i, rpn_results in enumerate(rpn_results_list):
            rpn_results.priors = rpn_results.pop('bboxes')
            assign_result = self.bbox_assigner.assign(
                rpn_results, batch_gt_instances[i],
                batch_gt_instances_ignore[i])
            sampling_results.append(
                self.bbox_sampler.sample(
                    assign_result,
                    rpn_results,
                    batch_gt_instances[i],
                    feats=[lvl_feat[i][None] for lvl_feat in x]))

        bbox_results = self.bbox_loss(x, sampling_results)
        losses = dict(bbox_results['loss_bbox'])
        losses.update(
            self.reid_loss(x, sampling_results, bbox_results['bbox_feats'],
                           batch_gt_instances))
        return losses

    def reid_loss(self, x: Tuple[Tensor],
                  sampling_results: List[SamplingResult], bbox_feats: Tensor,
                  batch_gt_instances: InstanceList) -> dict:
        """Re-ID losses on the positive sampled RoIs.

        Args:
            x (tuple[Tensor]): Trunk or neck features, each (B, C, H, W).
            sampling_results (list[SamplingResult]): Per image, positives
                first then negatives (the order of ``bbox_feats``).
            bbox_feats (Tensor): Detection ``shared_head`` output (the RoI
                features without one) of all sampled RoIs, shape
                (sum_i n_i, C, h, w); reused when retrieval shares it.
            batch_gt_instances (list[InstanceData]): Per image gts with
                ``person_ids`` (LongTensor, -1 unlabelled).

        Returns:
            dict[str, Tensor]: One scalar per loss, keyed by ``loss_name``.
        """
        if self.with_separate_reid_module:
            pos_rois = bbox2roi([res.pos_priors for res in sampling_results])
            reid_feats = self._reid_forward(x, pos_rois)
        else:
            is_pos = torch.cat([
                torch.arange(len(res.priors), device=bbox_feats.device) < len(
                    res.pos_priors) for res in sampling_results
            ])
            reid_feats = self.reid_head(bbox_feats[is_pos])
        person_ids = torch.cat([
            gt.person_ids.to(
                reid_feats.device).long()[res.pos_assigned_gt_inds]
            for res, gt in zip(sampling_results, batch_gt_instances)
        ])
        image_indices = torch.cat([
            torch.full((len(res.pos_priors), ),
                       i,
                       dtype=torch.long,
                       device=reid_feats.device)
            for i, res in enumerate(sampling_results)
        ])
        return {
            loss.loss_name: loss(reid_feats, person_ids, image_indices)
            for loss in self.reid_losses
        }

    def predict_reid_feats(self, x: Tuple[Tensor],
                           boxes_list: List[Tensor]) -> List[Tensor]:
        """Embed given boxes through the retrieval module.

        Args:
            x (tuple[Tensor]): Trunk or neck features, each (B, C, H, W).
            boxes_list (list[Tensor]): Per image, boxes (n_i, 4) as
                (x1, y1, x2, y2) in network-input coordinates (Tensor or
                mmdet box type).

        Returns:
            list[Tensor]: Per image, unit-norm fp32 embeddings (n_i, D),
            whatever the autocast dtype.
        """
        boxes_list = [get_box_tensor(boxes).float() for boxes in boxes_list]
        rois = bbox2roi(boxes_list)
        if rois.size(0) == 0:
            reid_feats = rois.new_zeros((0, self.reid_head.embed_dim))
        else:
            reid_feats = self._reid_forward(x, rois).float()
        return list(reid_feats.split([len(b) for b in boxes_list], 0))

    def predict(self,
                x: Tuple[Tensor],
                rpn_results_list: InstanceList,
                batch_data_samples: SampleList,
                rescale: bool = False) -> InstanceList:
        """Detect persons and embed each detection.

        Boxes are regressed and NMS'ed in network-input coordinates, embedded
        there, then (``rescale``) divided by the metainfo ``scale_factor``.

        Args:
            x (tuple[Tensor]): Trunk or neck features, each (B, C, H, W).
            rpn_results_list (list[InstanceData]): Proposals per image.
            batch_data_samples (list[DetDataSample]): The batch.
            rescale (bool): Return boxes in original image coordinates.
                Defaults to False.

        Returns:
            list[InstanceData]: Per image ``bboxes`` (n, 4), ``scores`` (n,),
            ``labels`` (n,) and ``reid_feats`` (n, D).
        """
        batch_img_metas = [sample.metainfo for sample in batch_data_samples]
        results_list = self.predict_bbox(
            x,
            batch_img_metas,
            rpn_results_list,
            rcnn_test_cfg=self.test_cfg,
            rescale=False)
        reid_feats_list = self.predict_reid_feats(
            x, [results.bboxes for results in results_list])
        for results, reid_feats, img_meta in zip(results_list, reid_feats_list,
                                                 batch_img_metas):
            results.reid_feats = reid_feats
            if rescale and len(results) > 0:
                scale_factor = [1 / s for s in img_meta['scale_factor']]
                results.bboxes = scale_boxes(results.bboxes, scale_factor)
        return results_list
