"""``streamdeblur-train``'s commands, one module per group; :mod:`trainer.cli` registers them.
No library module of the trainer imports this package."""
