"""TKRE: few-shot relation extraction with two-stage knowledge-guided pre-training, on Ray."""

__version__ = "0.1.0"
