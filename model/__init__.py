"""likeness's engine: portrait + speech + controls -> 512x512 talking-head frames.

A pure library (no I/O but loading its own weights; imports nothing from ``policy``,
``service`` or ``training``). Entry point: ``model.pipeline.TalkingHeadPipeline``.
"""
