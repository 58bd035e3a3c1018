"""`python -m bakepy`: the same entry point as the `bakepy` command."""

from bakepy.cli import main

if __name__ == "__main__":
    main()
