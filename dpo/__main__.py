from dpo.cli.main import main

main()
