"""The floor every other package stands on: settings, money, the clock, data files, logs.

It imports nothing of the project's own: ``knowledge``, ``agent``, ``seller``, ``evals``,
``channels`` and the ``csba`` shell all may use it, and the layers contract in
``pyproject.toml`` (``make lint``) keeps it that way.
"""
