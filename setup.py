"""Build script: declares the one extension module, spancast._native, built from native/."""

import os

from setuptools import setup
from setuptools.command.build_ext import build_ext

NO_COMPILER = """
spancast: the native encoder (a Cython extension) could not be compiled: {error}
  It needs a C compiler and the Python headers (Debian/Ubuntu: apt-get install gcc python3-dev).
  Without them, build the pure-Python encoder instead (the same bytes, slower):
      SPANCAST_NO_EXTENSIONS=1 pip install .
"""


class BuildExt(build_ext):
    """build_ext that, when there is no working compiler, says what to do instead of setuptools' generic error."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # setuptools raises several unrelated types for a missing or failing compiler
            raise SystemExit(NO_COMPILER.format(error=exc)) from exc

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            raise SystemExit(NO_COMPILER.format(error=exc)) from exc


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

setup(ext_modules=ext_modules, cmdclass={"build_ext": BuildExt})
