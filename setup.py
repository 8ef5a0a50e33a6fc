"""Builds the backtest's compiled scorer; everything else about the package is in
pyproject.toml.

Cython compiles copies of the anomaly detector's batch scorer and of the detector it
reads (`vigie.rules.detectors._batch_c` and `_seasonal_c`), stamped with the digest of
their sources: `vigie.rules.detectors.compiled` uses them only while that digest matches
the sources it sits beside. The extensions are optional: without a C compiler the install
goes on, and the pure Python scorer runs.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
DETECTORS = HERE / "src" / "vigie" / "rules" / "detectors"
ROOT = Path("build", "cython")  # the generated package tree, from the project folder
GENERATED = ROOT / "vigie" / "rules" / "detectors"
PYTHON_ARITHMETIC = ("-ffp-contract=off", "-fno-builtin-pow")
"""What keeps the compiled float arithmetic Python's, to the last bit: each product rounded
before a sum uses it (gcc contracts `a + b * c` into a fused multiply-add wherever the target
has one: aarch64, x86-64-v3), and `x ** 2` computed by the C library's `pow`, as Python does,
not folded into `x * x`, which differs in the last bit for about one value in a thousand."""


class _BuildExt(build_ext):
    """`build_ext`, with the C compiler held to Python's arithmetic (`PYTHON_ARITHMETIC`)."""

    def build_extensions(self) -> None:
        if self.compiler.compiler_type in ("unix", "mingw32", "cygwin"):  # gcc and clang
            for extension in self.extensions:
                extension.extra_compile_args = [*extension.extra_compile_args, *PYTHON_ARITHMETIC]
        super().build_extensions()


def _source_digest() -> str:
    spec = importlib.util.spec_from_file_location("vigie_digest", DETECTORS / "digest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.source_digest(DETECTORS))


def _extensions() -> list[Extension]:
    try:
        from Cython.Build import cythonize
        from Cython.Compiler.Errors import CompileError
    except ImportError:  # a build without Cython: the pure Python scorer runs
        return []
    GENERATED.mkdir(parents=True, exist_ok=True)  # pip runs the build from the project folder
    seasonal = (DETECTORS / "seasonal.py").read_text(encoding="utf-8")
    batch = (DETECTORS / "batch.py").read_text(encoding="utf-8")
    own = "from vigie.rules.detectors.seasonal import"
    if own not in batch:
        raise SystemExit(f"setup.py: batch.py no longer has {own!r}; update setup.py")
    batch = batch.replace(own, "from vigie.rules.detectors._seasonal_c import")
    batch += f"\nSOURCE_DIGEST = {_source_digest()!r}\n"
    types = (DETECTORS / "batch.pxd").read_text(encoding="utf-8")
    for file, text in (
        ("_seasonal_c.py", seasonal),
        ("_batch_c.py", batch),
        ("_batch_c.pxd", types),
    ):
        path = GENERATED / file
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    modules = [  # built again when this file (its compiler flags) changes, not only the C
        Extension(
            f"vigie.rules.detectors.{name}",
            [str(GENERATED / f"{name}.py")],
            depends=[str(HERE / "setup.py")],
        )
        for name in ("_seasonal_c", "_batch_c")
    ]
    try:
        built = cythonize(
            modules,
            # The pxd gives the C types; annotations are for mypy, and stay Python objects.
            compiler_directives={"language_level": 3, "annotation_typing": False},
            include_path=[str(ROOT)],  # where Cython finds `_batch_c.pxd` by the module's name
            build_dir=str(Path("build", "cython-c")),
            quiet=True,
        )
    except CompileError as error:  # batch.py edited past its C types: Python runs it as written
        print(
            f"setup.py: Cython cannot compile {error}; the pure Python scorer runs", file=sys.stderr
        )
        return []
    for extension in built:  # set on cythonize's copies: it does not carry `optional` over
        extension.optional = True  # without a C compiler (or Python.h), the install goes on
    return list(built)


setup(ext_modules=_extensions(), cmdclass={"build_ext": _BuildExt})
