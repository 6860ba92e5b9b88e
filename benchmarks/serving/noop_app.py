"""The bound's server: a FastAPI route that reads the body and answers a constant."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response

app = FastAPI()
ANSWER = b'{"prediction":1,"probability":0.99,"prediction_id":"x","model_version":"1"}'


@app.post("/noop")
async def noop(request: Request) -> Response:
    await request.body()
    return Response(ANSWER, media_type="application/json")


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
