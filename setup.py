from setuptools import setup

# Everything else is in pyproject.toml; cffi compiles csrc/ at build time.
setup(cffi_modules=["leaky_c/_build.py:ffibuilder"])
