"""Which encoder is live, and that asking for the extension never silently degrades."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import spancast
from conftest import NATIVE_EXPECTED
from spancast.codec import Op, implementation


def run(code: str, **env) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SPANCAST_")}
    full_env.update(env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=full_env, capture_output=True, text=True, timeout=60)


# Makes `import spancast._native` fail as a broken or missing build would.
BLOCK = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "spancast._native":
            raise {exc}("simulated: {why}")
sys.meta_path.insert(0, Block())
"""


def test_the_default_build_runs_the_extension():
    # The one test that fails when the extension was expected (default build) but is not loaded.
    if NATIVE_EXPECTED:
        assert spancast.__impl__ == "native"
        assert spancast.codec.TraceEncoder is implementation("native").TraceEncoder
        # The extension's compiled-in op numbers match the plan's.
        assert implementation("native").OPS == {op.name: op.value for op in Op}
    else:
        assert spancast.__impl__ == "python"


def test_no_extensions_at_run_time_gives_python():
    out = run("import spancast; print(spancast.__impl__)", SPANCAST_NO_EXTENSIONS="1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "python"


def test_asking_for_native_when_disabled_raises():
    out = run("import spancast", SPANCAST_NO_EXTENSIONS="1", SPANCAST_IMPL="native")
    assert out.returncode != 0 and "NativeUnavailableError" in out.stderr


@pytest.mark.parametrize("exc, why", [("ModuleNotFoundError", "no such module"), ("ImportError", "undefined symbol")])
def test_asking_for_native_when_missing_raises_with_the_reason(exc, why):
    out = run(BLOCK.format(exc=exc, why=why) + "import spancast", SPANCAST_IMPL="native")
    assert out.returncode != 0
    assert "NativeUnavailableError" in out.stderr and why in out.stderr


def test_a_broken_extension_is_an_error_not_a_fallback():
    out = run(BLOCK.format(exc="ImportError", why="undefined symbol") + "import spancast")
    assert out.returncode != 0 and "NativeUnavailableError" in out.stderr and "undefined symbol" in out.stderr


def test_no_extension_built_means_python():
    code = BLOCK.format(exc="ModuleNotFoundError", why="not built").replace(
        'raise ModuleNotFoundError("simulated: not built")',
        'raise ModuleNotFoundError("simulated: not built", name="spancast._native")',
    )
    out = run(code + "import spancast; print(spancast.__impl__)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "python"


def test_bad_impl_setting_is_rejected():
    out = run("import spancast", SPANCAST_IMPL="fast")
    assert out.returncode != 0 and "SPANCAST_IMPL" in out.stderr

