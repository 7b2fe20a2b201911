from shotcraft.cli import main

main()
