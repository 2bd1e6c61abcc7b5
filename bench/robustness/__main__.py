from bench.robustness.cli import main

main()
