"""The LIF compute core's blocks (:class:`dynalign.hw.top.LIFCore` joins them).

* :mod:`.layout` -- :class:`~.layout.CoreLayout`, the widths the blocks share;
* :mod:`.loader` -- :class:`~.loader.ImageLoader`: the model store image -> the LIF
  network's configuration and the encoder's registers;
* :mod:`.run` -- :class:`~.run.RunSequencer`: features -> encoder, the class and the
  counters -> the results record;
* :mod:`.record` -- :class:`~.record.ResultsRecord`: the results record, read byte by
  byte by the command engine.
"""
