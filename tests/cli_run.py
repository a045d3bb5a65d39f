"""Running the ``dynalign`` CLI inside a test: the exit code and what it printed."""

from dynalign.sw import cli


def run(capsys, *argv):
    """``dynalign ARGV`` in process -> ``(exit code, stdout, stderr)``."""
    code = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line(err):
    """``err`` stripped, after checking it is one line and no traceback."""
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()
