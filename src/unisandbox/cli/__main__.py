from unisandbox.cli import main

main()
