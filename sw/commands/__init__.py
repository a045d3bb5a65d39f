"""One module per ``dynalign`` command; see :mod:`dynalign.sw.cli`."""
