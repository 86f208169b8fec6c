"""Classification heads on top of a relation representation.

Usage: ``head = ClassificationHead(encoder.output_size, encoder.hidden_size, num_labels=80)``
"""

from __future__ import annotations

from torch import nn


class ClassificationHead(nn.Sequential):
    """The paper's head: Linear(2H, H) - ReLU - Dropout - Linear(H, C)."""

    def __init__(self, input_size: int, hidden_size: int, num_labels: int, dropout: float = 0.1):
        super().__init__(
            nn.Linear(input_size, hidden_size), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_size, num_labels)
        )
