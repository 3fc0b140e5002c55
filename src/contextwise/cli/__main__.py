from contextwise.cli import main

main()
