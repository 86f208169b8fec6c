"""Using a trained model on new text: few-shot prototypes and batch prediction on Ray Data."""
