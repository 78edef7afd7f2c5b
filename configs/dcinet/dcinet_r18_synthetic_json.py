# DC-I-Net R-18 on the synthetic data set read through the person-search
# JSON format (PersonSearchJSONDataset): the same images and boxes as
# dcinet_r18_synthetic.py, hence the same numbers, after
#   python tools/dataset_converters/person_search_to_json.py \
#       data/synthetic --format cuhk_sysu
# (writes data/synthetic/json/train.json and test.json). A template for
# your own data: see configs/_base_/datasets/person_search_json.py.
_base_ = ['./dcinet_r18_synthetic.py']

data_root = 'data/synthetic/'
json_dataset = dict(
    type='PersonSearchJSONDataset',
    data_root=data_root,
    data_prefix=dict(img='Image/SSM/'))

train_dataloader = dict(
    dataset=dict(
        dataset=dict(
            json_dataset,
            _delete_=True,
            ann_file='json/train.json',
            split='train',
            pipeline={{_base_.train_pipeline}})))
test_dataloader = dict(
    dataset=dict(
        json_dataset,
        _delete_=True,
        ann_file='json/test.json',
        split='gallery',
        pipeline={{_base_.test_pipeline}}))
query_dataloader = dict(
    test_dataloader, dataset=dict(test_dataloader['dataset'], split='query'))
test_cfg = dict(query_dataloader=query_dataloader)
val_dataloader = test_dataloader  # PersonSearchValLoop reads split='query'
