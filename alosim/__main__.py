from alosim.cli import main

main()
