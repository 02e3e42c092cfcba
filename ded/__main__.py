from ded.cli import main

main()
