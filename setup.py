"""Builds the optional C accelerator of the codec; the metadata is in setup.cfg."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("pybridge_port._ccodec", ["pybridge_port/_ccodec.c"], optional=True)])
