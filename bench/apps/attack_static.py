"""Starlette's StaticFiles over the folder $ATTACK_FILES, for uvicorn in bench/attacks.py."""

import os

from starlette.staticfiles import StaticFiles

app = StaticFiles(directory=os.environ["ATTACK_FILES"])
