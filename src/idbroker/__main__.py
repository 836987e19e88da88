from idbroker.cli.main import main

main()
