"""CLI subcommands: one module per subcommand, each with `HELP`, `DESCRIPTION`,
`add_arguments(parser)` and `run(args)` (`spikeport.cli.build_parser` makes the parsers).

Importing a command module and `add_arguments` must stay cheap (no torch / Lava imports at
module level) so that `spikeport --help` is fast.
"""
