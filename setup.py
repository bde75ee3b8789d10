"""A thin setuptools shim: the project's metadata lives in `pyproject.toml` ([project], and nbdev's settings in [tool.nbdev]).

`pip install -e .` works with or without this file; it is here for tools that still call `python setup.py ...`.
"""
from setuptools import setup

setup()
