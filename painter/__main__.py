from painter.cli import main

main()
