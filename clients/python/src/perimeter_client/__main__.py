"""`python -m perimeter_client`: the `perimeter` CLI."""

from perimeter_client.cli import main

raise SystemExit(main())
