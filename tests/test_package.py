import subprocess
import sys


def test_import_is_light():
    code = (
        "import sys, unisandbox, unisandbox.cli; print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_cli_help():
    out = subprocess.run([sys.executable, "-m", "unisandbox", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    assert "unisandbox" in out.stdout.lower()
