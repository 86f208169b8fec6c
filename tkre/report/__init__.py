"""Reports: Markdown tables and PNG plots (as bytes; storage writes them) for every stage and the pipeline."""
