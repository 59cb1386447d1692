"""The patterns opsbot is measured against. Each `*_lambda` module is a Lambda entry point that builds
itself from the environment at import, as `ack_function.handler` does; the others hold the builders."""
