"""Build script: declares the one extension module, spancast._native, built from native/."""

import os

from setuptools import setup

ext_modules = []
if os.environ.get("SPANCAST_NO_EXTENSIONS", "") not in ("1", "true", "yes"):
    from Cython.Build import cythonize
    from setuptools import Extension

    ext_modules = cythonize(
        [Extension("spancast._native", ["native/_native.pyx"], include_dirs=["native"], extra_compile_args=["-O3"])],
        compiler_directives={
            "language_level": "3",
            "boundscheck": False,
            "wraparound": False,
            "initializedcheck": False,
            "cdivision": True,
            "embedsignature": True,
        },
    )

setup(ext_modules=ext_modules)
