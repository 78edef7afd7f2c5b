"""Generate a synthetic person-search dataset in the raw CUHK-SYSU and/or
PRW layout, so that the real loaders read it unchanged."""
import dataclasses
import os
import os.path as osp
from typing import Dict, List, Tuple

import cv2
import numpy as np

from .cuhk_sysu_writer import write_cuhk_sysu_annotations
from .plan import ImagePlan, SyntheticConfig, plan_split
from .prw_writer import UNLABELLED_RAW_ID, write_prw_annotations
from .render import render_image, sample_appearances

FORMATS = ('cuhk_sysu', 'prw', 'both')
NUM_CAMERAS = 6


def plan_dataset(
    config: SyntheticConfig
) -> Tuple[List[ImagePlan], List[ImagePlan], list, list]:
    """Plan both splits and pick the queries.

    Returns:
        tuple: train plans, test plans, the appearances (labelled train ids,
        then test ids, then distractors) and the queries as (test id, test
        image index) pairs, one per test id.
    """
    rng = np.random.default_rng(config.seed)
    num_labelled = config.num_train_ids + config.num_test_ids
    num_distractors = config.max_distractors * (
        config.num_train_images + config.num_test_images)
    looks = sample_appearances(rng, num_labelled + num_distractors)
    aspects = [look.aspect for look in looks]
    train, next_distractor = plan_split(rng, config, 'train', 0,
                                        config.num_train_ids,
                                        config.num_train_images, aspects,
                                        num_labelled)
    test, _ = plan_split(rng, config, 'test', config.num_train_ids,
                         config.num_test_ids, config.num_test_images, aspects,
                         next_distractor)
    if config.confuser_prob > 0:
        # its own stream: the draws above stay as without confusers
        dress_confusers(
            np.random.default_rng([config.seed, 1]), config.confuser_prob,
            looks, [(train, 0, config.num_train_ids),
                    (test, config.num_train_ids, config.num_test_ids)])
    queries = []
    for person_id in range(config.num_test_ids):
        images = [
            i for i, plan in enumerate(test)
            if any(p.person_id == person_id for p in plan.persons)
        ]
        queries.append((person_id, int(rng.choice(images))))
    return train, test, looks, queries


def dress_confusers(rng: np.random.Generator, prob: float, looks: list,
                    splits: List[Tuple[List[ImagePlan], int, int]]) -> None:
    """Give unlabelled persons the clothing colours of labelled ones.

    Each unlabelled person of a split, with chance ``prob``, takes the
    ``top`` and ``bottom`` colours of a random labelled identity of the same
    split (for the test split: a query identity); its pattern, pattern
    colour, build, hair, skin, shoes and bag stay its own. ``looks`` is
    changed in place (every unlabelled person has a look of its own).

    Args:
        splits (list[tuple]): ``(plans, first_identity, num_ids)`` per
            split: the appearance index of the split's id 0 and its number
            of labelled ids.
    """
    for plans, first_identity, num_ids in splits:
        for plan in plans:
            for person in plan.persons:
                if person.person_id >= 0 or rng.random() >= prob:
                    continue
                model = looks[first_identity + int(rng.integers(num_ids))]
                looks[person.identity] = dataclasses.replace(
                    looks[person.identity], top=model.top, bottom=model.bottom)


def _person(plan: ImagePlan, person_id: int):
    return next(p for p in plan.persons if p.person_id == person_id)


def _galleries(rng: np.random.Generator, test: List[ImagePlan],
               names: List[str], queries: List[Tuple[int, int]],
               size: int) -> Tuple[list, list]:
    """CUHK-SYSU protocol rows: per query, every other image holding the
    person, then random distractor images up to ``size``."""
    query_rows, galleries = [], []
    for person_id, query_image in queries:
        box = _person(test[query_image], person_id).box
        query_rows.append(((names[query_image], box, 0), f'p{person_id}'))
        positives = [
            i for i, plan in enumerate(test)
            if i != query_image and any(p.person_id == person_id
                                        for p in plan.persons)
        ]
        negatives = [
            i for i in range(len(test))
            if i != query_image and i not in positives
        ]
        chosen = positives[:size] + list(
            rng.choice(negatives, size - len(positives[:size]), replace=False))
        galleries.append([
            (names[i],
             _person(test[i], person_id).box if i in positives else None, 0)
            for i in chosen
        ])
    return query_rows, galleries


def _persons_rows(plans: List[ImagePlan], names: List[str], num_ids: int,
                  prefix: int) -> list:
    """Person.mat / Train.mat rows: (idname, scene rows) per labelled id."""
    rows = [(f'p{prefix + i}', []) for i in range(num_ids)]
    for plan, name in zip(plans, names):
        for person in plan.persons:
            if person.person_id >= 0:
                rows[person.person_id][1].append((name, person.box, 0))
    return rows


def _write_images(rng: np.random.Generator, folder: str,
                  plans: List[ImagePlan], names: List[str], looks: list,
                  config: SyntheticConfig) -> None:
    os.makedirs(folder, exist_ok=True)
    for plan, name in zip(plans, names):
        image = render_image(rng, plan, looks, config.image_size)
        if not cv2.imwrite(osp.join(folder, name), image):
            raise OSError(f'Cannot write image {osp.join(folder, name)}.')


def write_cuhk_sysu(root: str, config: SyntheticConfig, plans: tuple,
                    rng: np.random.Generator) -> None:
    """Write the CUHK-SYSU layout of planned data under ``root``."""
    train, test, looks, queries = plans
    numbers = rng.permutation(len(train) + len(test)) + 1
    train_names = [f's{n}.jpg' for n in numbers[:len(train)]]
    test_names = [f's{n}.jpg' for n in numbers[len(train):]]
    _write_images(rng, osp.join(root, 'Image', 'SSM'), train + test,
                  train_names + test_names, looks, config)
    images = [(name, np.array([p.box for p in plan.persons]).reshape(-1, 4))
              for plan, name in zip(train + test, train_names + test_names)]
    protocols = {}
    for size in sorted({50, *config.gallery_sizes}):
        if size <= len(test) - 1:
            protocols[size] = _galleries(
                np.random.default_rng(config.seed), test, test_names, queries,
                size)
    subset_source = protocols[max(s for s in protocols if s <= 100)]
    occluded = [
        i for i, (pid, image) in enumerate(queries)
        if _person(test[image], pid).occluded
    ]
    areas = [
        int(np.prod(_person(test[image], pid).box[2:]))
        for pid, image in queries
    ]
    num_small = max(1, len(queries) // 10)
    small = sorted(np.argsort(areas, kind='stable')[:num_small].tolist())
    subsets = dict(occlusion=occluded or [0], resolution=small)
    for name, chosen in subsets.items():
        protocols[name] = ([subset_source[0][i] for i in chosen],
                           [subset_source[1][i] for i in chosen])
    write_cuhk_sysu_annotations(
        root, images, test_names,
        _persons_rows(train, train_names, config.num_train_ids, 0),
        _persons_rows(test, test_names, config.num_test_ids,
                      config.num_train_ids), protocols)


def write_prw(root: str, config: SyntheticConfig, plans: tuple,
              rng: np.random.Generator) -> None:
    """Write the PRW layout of planned data under ``root``.

    Raw ids are distinct random values in 1..3 x (number of ids), so that
    the train ids need remapping as in the real data.
    """
    train, test, looks, queries = plans
    num_ids = config.num_train_ids + config.num_test_ids
    raw_ids = rng.choice(np.arange(1, 3 * num_ids + 1), num_ids, replace=False)
    names = [
        f'c{int(rng.integers(1, NUM_CAMERAS + 1))}s1_{i * 25:06d}.jpg'
        for i in range(1,
                       len(train) + len(test) + 1)
    ]
    _write_images(rng, osp.join(root, 'frames'), train + test, names, looks,
                  config)
    frames = []
    for index, plan in enumerate(train + test):
        offset = 0 if index < len(train) else config.num_train_ids
        ids = [
            raw_ids[offset +
                    p.person_id] if p.person_id >= 0 else UNLABELLED_RAW_ID
            for p in plan.persons
        ]
        frames.append((names[index], np.array(ids),
                       np.array([p.box for p in plan.persons])))
    query_rows = [(int(raw_ids[config.num_train_ids + pid]),
                   _person(test[image], pid).box, names[len(train) + image])
                  for pid, image in queries]
    write_prw_annotations(root, frames, names[:len(train)], names[len(train):],
                          query_rows)


def count_summary(config: SyntheticConfig, plans: tuple) -> Dict[str, int]:
    """What the loaders must return for the planned data."""
    train, test, _, queries = plans
    return dict(
        train_images=len(train),
        train_boxes=sum(len(p.persons) for p in train),
        train_labelled_boxes=sum(q.person_id >= 0 for p in train
                                 for q in p.persons),
        train_ids=config.num_train_ids,
        gallery_images=len(test),
        gallery_boxes=sum(len(p.persons) for p in test),
        gallery_labelled_boxes=sum(q.person_id >= 0 for p in test
                                   for q in p.persons),
        queries=len(queries))


def make_synthetic_dataset(out_dir: str,
                           config: SyntheticConfig = SyntheticConfig(),
                           data_format: str = 'cuhk_sysu') -> Dict[str, int]:
    """Generate a dataset (deterministic for ``config.seed``).

    Args:
        out_dir (str): Where to write. With ``data_format='both'`` the
            layouts go to ``out_dir/cuhk_sysu`` and ``out_dir/prw``.
        config (SyntheticConfig): Size and look.
        data_format (str): ``'cuhk_sysu'``, ``'prw'`` or ``'both'``.

    Returns:
        dict[str, int]: ``train_images``, ``train_boxes``,
        ``train_labelled_boxes``, ``train_ids``, ``gallery_images``,
        ``gallery_boxes``, ``gallery_labelled_boxes``, ``queries``: what
        the loaders return (identical for both layouts).
    """
    if data_format not in FORMATS:
        raise ValueError(f'data_format must be one of {FORMATS}, got '
                         f'{data_format!r}.')
    plans = plan_dataset(config)
    if data_format in ('cuhk_sysu', 'both'):
        root = osp.join(out_dir, 'cuhk_sysu') if data_format == 'both' \
            else out_dir
        write_cuhk_sysu(root, config, plans,
                        np.random.default_rng(config.seed + 1))
    if data_format in ('prw', 'both'):
        root = osp.join(out_dir, 'prw') if data_format == 'both' else out_dir
        write_prw(root, config, plans, np.random.default_rng(config.seed + 2))
    return count_summary(config, plans)
