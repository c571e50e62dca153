"""Calls to an endpoint (the action server) share kept-alive connections (bot.keepalive)."""

from __future__ import annotations

import asyncio
import socket

from aiohttp import web
from rasa.utils.endpoints import EndpointConfig

from bot import keepalive


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _serve(port: int, peers: list[int]) -> web.AppRunner:
    async def webhook(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername")[1])
        return web.json_response({"events": [], "responses": []})

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def test_calls_reuse_one_connection_and_survive_a_restarted_server() -> None:
    keepalive.install()
    port = _free_port()
    endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook", headers={"X-Action-Token": "t"})

    async def scenario() -> tuple[list[int], list[int], list[object]]:
        before: list[int] = []
        runner = await _serve(port, before)
        answers = [await endpoint.request(json={"next_action": "a"}) for _ in range(5)]
        await runner.cleanup()  # the action server is restarted
        after: list[int] = []
        runner = await _serve(port, after)
        answers.append(await endpoint.request(json={"next_action": "a"}))
        await runner.cleanup()
        await keepalive.close_sessions()
        return before, after, answers

    before, after, answers = asyncio.run(scenario())
    assert answers == [{"events": [], "responses": []}] * 6
    assert len(before) == 5 and len(set(before)) == 1  # one TCP connection for five calls
    assert len(after) == 1  # a new connection once the old server is gone


def test_each_loop_gets_its_own_session() -> None:
    """A session belongs to the loop that made it (tests and the CLI run several loops)."""
    keepalive.install()
    port = _free_port()
    endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook")

    async def one_call() -> object:
        runner = await _serve(port, [])
        try:
            return await endpoint.request(json={})
        finally:
            await runner.cleanup()
            await keepalive.close_sessions()

    assert asyncio.run(one_call()) == asyncio.run(one_call()) == {"events": [], "responses": []}
