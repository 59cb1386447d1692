"""`python -m infra.cli`: the `opsbot` command."""

from infra.cli.main import main

raise SystemExit(main())
