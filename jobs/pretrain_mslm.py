"""Stage 1, masked span language modelling: ``python -m jobs.pretrain_mslm --config ... [--set key=value]``."""

from jobs.pretrain import main

if __name__ == "__main__":
    main("mslm")
