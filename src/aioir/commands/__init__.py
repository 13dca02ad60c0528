"""Sub-commands of the ``aioir`` CLI, one module each (see :mod:`aioir.cli`)."""
