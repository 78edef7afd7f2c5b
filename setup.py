"""Installs mmsearch; requirements come from requirements/*.txt."""
import os.path as osp
from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_requirements(name: str) -> list:
    """Return the requirement lines of ``requirements/<name>.txt``."""
    with open(osp.join(HERE, 'requirements', f'{name}.txt')) as f:
        lines = [line.split('#')[0].strip() for line in f]
    return [line for line in lines if line and not line.startswith('-r')]


def read_version() -> str:
    namespace = {}
    with open(osp.join(HERE, 'mmsearch', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


setup(
    name='mmsearch',
    version=read_version(),
    description='Person search (I-Net, DC-I-Net, OIM) on MMDetection 3.x',
    long_description=open(osp.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests')),
    python_requires='>=3.10',  # X | Y annotations (PEP 604)
    install_requires=read_requirements('runtime') +
    read_requirements('mminstall'),
    extras_require=dict(
        tests=read_requirements('tests'),
        build=read_requirements('build'),
        # optional features, OpenMMLab style: pip install -e ".[index]"
        optional=read_requirements('optional'),
        deploy=read_requirements('deploy'),
        index=read_requirements('index'),
        web=read_requirements('web'),
        all=read_requirements('optional') + read_requirements('deploy') +
        read_requirements('index') + read_requirements('web'),
    ),
    license='Apache License 2.0',
    zip_safe=False,
)
