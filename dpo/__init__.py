"""dpo — the Digital Performance Optimizer."""

__version__ = "0.1.0"
