"""`python -m spikeport` is the `spikeport` command."""

import sys

from spikeport.cli import main

sys.exit(main())
