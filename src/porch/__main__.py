from porch.cli import main

main()
