"""`python -m elixir_gen`: see `elixir_gen.cli`."""

from elixir_gen.cli import main

raise SystemExit(main())
