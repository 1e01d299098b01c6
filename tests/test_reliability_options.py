"""Numbers and options (#13): zero, negative, non-finite and non-numeric values of every count
and scale option are refused by one shared set of argparse types, and every argument error is
one line ``spikeport: error: ...`` with exit status 2 (the usage block stays in --help)."""

from __future__ import annotations

import argparse

import pytest

from spikeport.cli import build_parser, main
from spikeport.commands import options

COUNTS = ("--threads", "--batch-size", "--samples", "--limit", "--epochs", "--steps", "--T")
SCALES = ("--lr", "--input-scale", "--input-max", "--dt")
SHARED_TYPES = {
    options.positive_int,
    options.positive_float,
    options.timesteps,
    options.step_count,
}

BAD_SCALES = ("0", "-1", "-0.5", "nan", "inf", "-inf", "x")
BAD_COUNTS = ("0", "-3", "1.5", "x", "")

CASES = [
    (["train", "--out", "never"], "--lr", BAD_SCALES),
    (["convert", "model.pt", "-o", "never"], "--input-scale", BAD_SCALES),
    (["convert", "model.pt", "-o", "never"], "--input-max", BAD_SCALES),
    (["export", "art", "--format", "nir"], "--dt", BAD_SCALES),
    (["train", "--out", "never"], "--threads", BAD_COUNTS),
    (["convert", "model.pt", "-o", "never"], "--threads", BAD_COUNTS),
    (["energy", "art"], "--threads", BAD_COUNTS),
    (["train", "--out", "never"], "--epochs", BAD_COUNTS),
    (["train", "--out", "never"], "--batch-size", BAD_COUNTS),
    (["convert", "model.pt", "-o", "never"], "--batch-size", BAD_COUNTS),
    (["simulate", "art", "--data", "digits"], "--batch-size", BAD_COUNTS),
    (["simulate", "art", "--data", "digits"], "--limit", BAD_COUNTS),
    (["energy", "art"], "--samples", BAD_COUNTS),
    (["lava", "art"], "--samples", BAD_COUNTS),
    (["energy", "art"], "--steps", BAD_COUNTS),
    (["lava", "art"], "--steps", BAD_COUNTS),
    (["export", "art", "--format", "onnx"], "--steps", BAD_COUNTS),
    (["train", "--out", "never"], "--T", BAD_COUNTS),
    (["demo"], "--epochs", BAD_COUNTS),
    (["demo"], "--lava-samples", BAD_COUNTS),
    (["demo"], "--energy-samples", BAD_COUNTS),
    (["convert", "model.pt", "-o", "never"], "--T", BAD_COUNTS),
    (["convert", "model.pt", "-o", "never"], "--embed-dim", BAD_COUNTS),
    (["simulate", "art"], "--workers", BAD_COUNTS),
    (["simulate", "art", "--workers", "2"], "--shard-size", BAD_COUNTS),
]


@pytest.mark.parametrize(
    ("base", "option", "value"),
    [pytest.param(b, o, v, id=f"{b[0]} {o}={v}") for b, o, values in CASES for v in values],
)
def test_bad_number_is_one_line_argument_error_before_any_work(
    capsys, tmp_path, monkeypatch, base, option, value
):
    monkeypatch.chdir(tmp_path)  # nothing may be written; the paths named do not exist
    assert main([*base, f"{option}={value}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "usage:" not in err, err
    assert err.startswith(f"spikeport: error: argument {option}: ")
    assert f"`spikeport {base[0]} --help`" in err
    assert not any(tmp_path.iterdir())


def _number_actions() -> list[tuple[str, argparse.Action]]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return [
        (name, action)
        for name, p in sub.choices.items()
        for action in p._actions
        if set(action.option_strings) & set(COUNTS + SCALES) or action.type in (int, float)
    ]


def test_every_count_and_scale_option_of_every_command_uses_the_shared_types():
    found = _number_actions()
    assert {o for _, a in found for o in a.option_strings} >= set(COUNTS + SCALES)
    for command, action in found:
        if action.dest == "seed":
            continue  # any integer is a seed
        assert action.type in SHARED_TYPES, (command, action.option_strings, action.type)


def test_argument_errors_of_every_kind_are_one_line(capsys):
    cases = [
        ([], "the following arguments are required: COMMAND", "`spikeport --help`"),
        (["nope"], "invalid choice: 'nope'", "`spikeport --help`"),
        (["train"], "the following arguments are required: --out", "`spikeport train --help`"),
        (["convert", "--bogus"], "unrecognized arguments: --bogus", "`spikeport convert --help`"),
        (["export", "a", "--format", "x"], "argument --format: invalid choice", "export --help"),
    ]
    for argv, message, hint in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("spikeport: error: ") and err.count("\n") == 1, err
        assert message in err and hint in err, err


def test_help_still_shows_the_usage(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["convert", "--help"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("usage: spikeport convert")


@pytest.mark.parametrize("text", ["1", "7", "1e-3", "0.5", "64"])
def test_valid_scales_pass_unchanged(text):
    assert options.positive_float(text) == float(text)
