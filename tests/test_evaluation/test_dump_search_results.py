"""DumpSearchResults: every gallery image and query once, in dataset
order, whatever the number of ranks."""
import pickle

import pytest

import mmsearch.evaluation.metrics.dump_search_results as dump_module
from mmsearch.evaluation import DumpSearchResults
from mmsearch.registry import METRICS


def gallery(name):
    return dict(img_id=name, pred_instances=dict(scores=[0.9]))


def query(index):
    return dict(img_id=f'q{index}.jpg', query_index=index)


def test_registered_under_its_name(tmp_path):
    out = str(tmp_path / 'results.pkl')
    metric = METRICS.build(dict(type='DumpSearchResults', out_file_path=out))
    assert isinstance(metric, DumpSearchResults)


def test_two_ranks_interleave_back_to_dataset_order(tmp_path, monkeypatch):
    """Samples 0..4 of the gallery and 0..2 of the queries dealt to 2 ranks
    (sample i to rank i % 2), each split padded with its first sample."""
    rank0 = [gallery('a'), gallery('c'), gallery('e'), query(0), query(2)]
    rank1 = [gallery('b'), gallery('d'), gallery('a'), query(1), query(0)]
    monkeypatch.setattr(dump_module, 'all_gather_object',
                        lambda results: [rank0, rank1])
    out = tmp_path / 'results.pkl'
    metric = DumpSearchResults(out_file_path=str(out))
    metric.results.extend(rank0)
    assert metric.evaluate(size=10) == {}
    assert metric.results == []
    with open(out, 'rb') as file:
        dumped = pickle.load(file)
    assert [s['img_id'] for s in dumped[:5]] == ['a', 'b', 'c', 'd', 'e']
    assert [s['query_index'] for s in dumped[5:]] == [0, 1, 2]


def test_one_rank_drops_repeats(tmp_path):
    out = tmp_path / 'results.pkl'
    metric = DumpSearchResults(out_file_path=str(out))
    metric.process({}, [gallery('a'), gallery('b'), gallery('a'), query(0)])
    metric.evaluate(size=4)
    with open(out, 'rb') as file:
        dumped = pickle.load(file)
    assert [s['img_id'] for s in dumped] == ['a', 'b', 'q0.jpg']


def test_a_sample_without_ids_is_named(tmp_path):
    metric = DumpSearchResults(out_file_path=str(tmp_path / 'results.pkl'))
    metric.results.append(dict(pred_instances=dict()))
    with pytest.raises(KeyError, match="neither 'query_index'.*'img_id'"):
        metric.evaluate(size=1)
