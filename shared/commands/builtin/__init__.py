"""The built-in commands: one module per command, each with its args model and its `SPEC` (found by listing
this package: `shared.commands.registry`)."""
