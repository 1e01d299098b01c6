"""CLI subcommands: one module per subcommand, each with `add_parser(subparsers)` and `run(args)`.

`add_parser` must stay cheap (no torch / Lava imports at module level) so that
`spikeport --help` is fast.
"""
