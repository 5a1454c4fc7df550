"""The pure workflow: context, settings, plans, ports, events, phases and pipelines; no I/O."""
