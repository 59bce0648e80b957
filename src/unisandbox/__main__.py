"""`python -m unisandbox ...` (used by torchrun: `torchrun ... -m unisandbox generate ...`)."""

from unisandbox.cli import main

main()
