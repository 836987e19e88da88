"""The hello-world baseline: the same server stack (Starlette on uvicorn, same worker count)
doing nothing but answering a small JSON document."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def hello(request: Request) -> JSONResponse:
    return JSONResponse({"hello": "world"})


app = Starlette(routes=[Route("/hello", hello)])
