# Your own data in the person-search JSON format (PersonSearchJSONDataset;
# check a file with tools/misc/check_dataset.py). Layout under data_root:
#   images/...                 the scene images (file_name is relative here)
#   annotations/train.json     images + boxes with person_id (-1 unlabelled)
#   annotations/test.json      images + boxes + queries (+ gallery lists)
# num_person_ids = the labelled identities of train.json (printed by
# check_dataset.py): set it below. With gallery lists the metric reports
# the CUHK-SYSU keys (cuhk/mAP@<list name>: set gallery_sizes to names the
# file has), without them the PRW ones (prw/mAP; multiview=False for one
# camera).
dataset_type = 'PersonSearchJSONDataset'
data_root = 'data/my_dataset/'
train_ann_file = 'annotations/train.json'
test_ann_file = 'annotations/test.json'
data_prefix = dict(img='images/')
backend_args = None
# Labelled training identities of train.json: the method configs set
# model.roi_head.num_person_ids to it (None: the model refuses to build).
num_person_ids = None

train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadPersonSearchAnnotations', with_bbox=True),
    dict(
        type='RandomChoiceResize',
        scales=[(1500, 640), (1500, 720), (1500, 800), (1500, 900)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackPersonSearchInputs')
]
# Resize before loading the annotations: gt boxes and query_bbox stay in
# original image coordinates (the model scales query_bbox itself).
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(1500, 900), keep_ratio=True),
    dict(type='LoadPersonSearchAnnotations', with_bbox=True),
    dict(type='PackPersonSearchInputs')
]

train_dataloader = dict(
    batch_size=2,  # image pairs
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='PairSampler', shuffle=True),
    collate_fn=dict(type='mmsearch.pair_collate'),
    dataset=dict(
        type='PersonSearchPairDataset',
        dataset=dict(
            type=dataset_type,
            data_root=data_root,
            ann_file=train_ann_file,
            data_prefix=data_prefix,
            split='train',
            pipeline=train_pipeline,
            backend_args=backend_args)))
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file=test_ann_file,
        data_prefix=data_prefix,
        split='gallery',
        pipeline=test_pipeline,
        backend_args=backend_args))
query_dataloader = dict(
    test_dataloader, dataset=dict(test_dataloader['dataset'], split='query'))
val_dataloader = test_dataloader
val_evaluator = dict(type='PersonSearchMetric')
test_cfg = dict(type='PersonSearchTestLoop', query_dataloader=query_dataloader)
test_evaluator = val_evaluator
