"""One module per ``dynalign`` command; see :mod:`sw.cli`."""
