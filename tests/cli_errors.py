"""The CLI's error contract, checked one way by every CLI test: exit status 2 and one line."""

from __future__ import annotations

from spikeport.cli import main


def one_line_error(capsys, argv: list[str], *needles: str) -> str:
    """Run ``spikeport <argv>``; assert it exits 2 with one ``spikeport: error: ...`` line on
    stderr holding every needle; return that line."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("spikeport: error:") and "\n" not in err, err
    for needle in needles:
        assert needle in err, err
    return err
