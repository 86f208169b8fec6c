"""Pre-training losses (plain torch): MSLM cross-entropy and span-level contrastive learning."""
