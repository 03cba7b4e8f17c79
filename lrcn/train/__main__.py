"""`python -m lrcn.train ...` is vc-train; torchrun starts each rank this way (`torchrun ... -m lrcn.train`)."""

from lrcn.train.cli import app

if __name__ == "__main__":
    app(prog_name="vc-train")
