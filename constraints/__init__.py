"""Board pins and timing beyond amaranth-boards: see :mod:`dynalign.constraints.boards`."""
