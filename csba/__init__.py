"""Application shell: settings, data-file reading and the ``csba`` command."""
