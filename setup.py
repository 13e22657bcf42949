"""Installable package for the TwoStreamVAN reference implementation.

`pip install -e .` makes the project's top-level packages (models, datasets,
utils, sepconv) importable.  The names `datasets` and `utils` are generic and
also exist on PyPI: install into the project's own `.venv` (see README).
"""
from setuptools import find_packages, setup

setup(
    name="twostreamvan",
    version="0.1.0",
    description="TwoStreamVAN (WACV 2020): two-stream variational adversarial video generation",
    python_requires=">=3.10",
    packages=find_packages(include=["models", "datasets", "utils", "utils.*", "sepconv"]),
    py_modules=["train", "eval"],
    package_data={"sepconv": ["*.cu"]},
    install_requires=[
        "torch==2.13.0",
        "numpy==2.4.6",
        "opencv-python-headless==4.14.0.94",
        "pillow==13.0.0",
        "tqdm==4.70.1",
        "tensorboardX==2.6.5",
        "scipy==1.17.1",
        "scikit-learn==1.9.1",
        "matplotlib==3.11.2",
    ],
    extras_require={
        "cuda": ["cupy-cuda12x"],
        "test": ["pytest==9.2.0"],
    },
)
