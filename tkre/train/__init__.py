"""Pre-training: batches, the train loop written against a small context, engine adapters (DeepSpeed, DDP)."""
