"""`python -m translator ...` behaves as the `fwtranslate` command."""
from .cli import main

if __name__ == "__main__":
    main()
