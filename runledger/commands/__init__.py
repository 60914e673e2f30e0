"""One module per `runledger` subcommand."""
