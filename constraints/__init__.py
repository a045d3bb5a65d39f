"""Board pins and timing beyond amaranth-boards: see :mod:`constraints.boards`."""
