"""Stage 2, span-level contrastive learning with MSLM: ``python -m jobs.pretrain_scl --config ... [--set key=value]``."""

from jobs.pretrain import main

if __name__ == "__main__":
    main("scl")
