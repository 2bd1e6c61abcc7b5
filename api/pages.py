"""The templates of the server-rendered pages (api/templates/), shared by their routers."""

from pathlib import Path

from fastapi.templating import Jinja2Templates

templates = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
