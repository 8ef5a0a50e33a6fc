"""The website chat over HTTP: the visitor's widget (`/chat/…`, authenticated by the source's
write key and the visitor's token, from the shop's own pages) and the agents' console
(`/api/chat/…`, signed-in users). Live messages go down a WebSocket, or an event stream
where a proxy blocks WebSockets; the widget sends over the same socket or by POST."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import lru_cache
from importlib.resources import files
from typing import Annotated, Any

import msgspec
from fastapi import (
    APIRouter,
    Body,
    Depends,
    Query,
    Request,
    Response,
    WebSocket,
    WebSocketDisconnect,
)
from fastapi.responses import JSONResponse, StreamingResponse

from vigie.auth.roles import Scope, scope_of
from vigie.auth.users import Principal
from vigie.chat.hub import Connection
from vigie.chat.service import ChatError, ChatService, TooLarge, TooMany, VisitorId
from vigie.config import Config
from vigie.web.deps import ChatAgent, ChatDep, ConfigDep, require

KEEPALIVE_SECONDS = 15.0
MAX_BODY = 64 * 1024
"""A widget's request body above this is refused (413) before it is read whole."""

_ERROR = {"description": "the reason, and the field at fault when there is one"}
ERRORS: dict[int | str, dict[str, Any]] = {
    status: _ERROR for status in (400, 401, 403, 404, 409, 410, 413, 422, 429)
}
"""What a chat route may answer besides 200 (`ChatError`'s statuses)."""

visitor_router = APIRouter(prefix="/chat", tags=["chat"], responses=ERRORS)
router = APIRouter(prefix="/api/chat", tags=["chat"], responses=ERRORS)


def _chat(request: Request | WebSocket) -> ChatService:
    chat: ChatService = request.app.state.system.chat
    return chat


@lru_cache(maxsize=1)
def widget_script() -> bytes:
    """The widget's source, shipped inside the package."""
    return files("vigie.chat").joinpath("widget.js").read_bytes()


@visitor_router.get("/widget.js", response_class=Response)
def widget() -> Response:
    """The visitor's chat widget; the tracker (`/t.js`) loads it for sources with `chat: true`."""
    return Response(
        content=widget_script(),
        media_type="application/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300"},
    )


def allowed_origin(config: Config, source: str, origin: str | None, own: str) -> str | None:
    """`origin` when a page there may call the chat of `source` (its `tracker.chat_origins`
    or this server itself), else None: no `*`, a chat is nobody else's business."""
    if not origin:
        return None
    if origin == own:
        return origin
    for s in config.sources:
        if s.name == source and origin in s.tracker.chat_origins:
            return origin
    return None


def _own_origin(request: Request | WebSocket) -> str:
    return f"{request.url.scheme.replace('ws', 'http')}://{request.url.netloc}"


def _error(exc: ChatError) -> JSONResponse:
    body: dict[str, Any] = {"detail": exc.args[0] if exc.args else str(exc)}
    if exc.field is not None:
        body["field"] = exc.field
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooMany) else None
    return JSONResponse(body, status_code=exc.status, headers=headers)


async def _body(request: Request) -> dict[str, Any]:
    """The widget's JSON body (sent as text/plain, so that no preflight is needed)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise TooLarge(f"body over {MAX_BODY} bytes / corps trop grand", field="body")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise TooLarge(f"body over {MAX_BODY} bytes / corps trop grand", field="body")
    try:
        data = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise ChatError(f"body: not JSON ({exc}) / JSON invalide", field="body") from exc
    if not isinstance(data, dict):
        raise ChatError("body: a JSON object is required / objet JSON requis", field="body")
    return data


def _visitor(chat: ChatService, data: dict[str, Any]) -> VisitorId:
    return chat.visitor(
        write_key=str(data.get("writeKey") or ""),
        anonymous_id=str(data.get("anonymousId") or ""),
        token=str(data.get("token") or ""),
    )


VisitorCall = Callable[[ChatService, VisitorId, dict[str, Any]], Awaitable[Any]]


async def _widget_call(request: Request, config: Config, act: VisitorCall) -> Response:
    """Run one widget request: read, authenticate, act; errors as JSON; CORS per source."""
    chat = _chat(request)
    source: str | None = None
    try:
        data = await _body(request)
        visitor = _visitor(chat, data)
        source = visitor.source
        response: Response = JSONResponse(await act(chat, visitor, data))
    except ChatError as exc:
        response = _error(exc)
    origin = allowed_origin(
        config, source or "", request.headers.get("origin"), _own_origin(request)
    )
    if origin is None and source is None:
        # Before the visitor is known the error may still be read by any page: it names
        # nothing but the reason.
        origin = request.headers.get("origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = "Retry-After"
        response.headers["Vary"] = "Origin"
    return response


@visitor_router.post("/v1/session", response_class=JSONResponse)
async def session(request: Request, config: ConfigDep) -> Response:
    """Start or resume the widget's session: `{writeKey, anonymousId, token?}` gives a token
    for this browser, whether an agent is on duty, and its open conversations."""
    chat = _chat(request)
    source: str | None = None
    try:
        data = await _body(request)
        opened = chat.session(
            write_key=str(data.get("writeKey") or ""),
            anonymous_id=str(data.get("anonymousId") or ""),
            token=data.get("token") if isinstance(data.get("token"), str) else None,
        )
        source = str(opened["source"])
        visitor = _visitor(chat, {**data, "token": opened["token"]})
        response: Response = JSONResponse({**opened, "conversations": await chat.mine(visitor)})
    except ChatError as exc:
        response = _error(exc)
    origin = allowed_origin(
        config, source or "", request.headers.get("origin"), _own_origin(request)
    )
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
    return response


async def _start(chat: ChatService, visitor: VisitorId, data: dict[str, Any]) -> Any:
    return await chat.start(visitor, data)


async def _say(chat: ChatService, visitor: VisitorId, data: dict[str, Any]) -> Any:
    return await chat.visitor_says(visitor, str(data.get("conversationId") or ""), data.get("text"))


async def _typing(chat: ChatService, visitor: VisitorId, data: dict[str, Any]) -> Any:
    await chat.visitor_typing(visitor, str(data.get("conversationId") or ""))
    return {"ok": True}


async def _read(chat: ChatService, visitor: VisitorId, data: dict[str, Any]) -> Any:
    conversation = str(data.get("conversationId") or "")
    await chat.visitor_read(visitor, conversation, str(data.get("messageId")))
    return {"ok": True}


async def _dismiss(chat: ChatService, visitor: VisitorId, data: dict[str, Any]) -> Any:
    chat.dismiss(visitor)
    return {"ok": True}


async def _offline(chat: ChatService, visitor: VisitorId, data: dict[str, Any]) -> Any:
    return await chat.offline(visitor, data)


async def _mine(chat: ChatService, visitor: VisitorId, data: dict[str, Any]) -> Any:
    return {"conversations": await chat.mine(visitor)}


WIDGET_CALLS: dict[str, tuple[VisitorCall, str]] = {
    "start": (_start, "Open a conversation with the first message `text`."),
    "say": (_say, "A message `text` in the visitor's conversation `conversationId`."),
    "typing": (_typing, "The visitor is typing in `conversationId`."),
    "read": (_read, "The visitor has read up to `messageId` in `conversationId`."),
    "dismiss": (_dismiss, "The visitor closed an invitation: none again this session."),
    "offline": (_offline, "The offline form `{name, email, text}`: a ticket for later."),
    "mine": (_mine, "The visitor's open conversations from this browser."),
}
"""What a widget may do, by POST `/chat/v1/{name}` or as a WebSocket frame `{type: name}`."""


def _add_widget_route(name: str, act: VisitorCall, doc: str) -> None:
    async def call(request: Request, config: ConfigDep) -> Response:
        return await _widget_call(request, config, act)

    call.__name__ = f"widget_{name}"
    call.__doc__ = (
        f"{doc} The body, JSON (as text/plain), also holds `writeKey`, `anonymousId`, `token`."
    )
    visitor_router.add_api_route(f"/v1/{name}", call, methods=["POST"], response_class=JSONResponse)


for _name, (_act, _doc) in WIDGET_CALLS.items():
    _add_widget_route(_name, _act, _doc)


def _sse(message: dict[str, Any]) -> str:
    return f"data: {msgspec.json.encode(message).decode()}\n\n"


async def _drain(connection: Connection, request: Request) -> AsyncIterator[str]:
    yield "retry: 2000\n\n" + _sse({"type": "hello"})
    while True:
        try:
            message = await asyncio.wait_for(connection.outbox.get(), timeout=KEEPALIVE_SECONDS)
        except TimeoutError:
            if await request.is_disconnected():
                return
            yield ": keepalive\n\n"
            continue
        if message is None:
            return
        yield f"data: {message}\n\n"


@visitor_router.get(
    "/v1/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "an endless stream"}},
)
async def visitor_stream(
    request: Request,
    config: ConfigDep,
    write_key: Annotated[str, Query(alias="writeKey")],
    anonymous_id: Annotated[str, Query(alias="anonymousId")],
    token: str,
    page: str = "/",
    lang: str | None = None,
) -> Response:
    """The widget's live messages as Server-Sent Events, where WebSockets are blocked; the
    visitor is present on `page` while the stream is open."""
    chat = _chat(request)
    try:
        visitor = chat.visitor(write_key=write_key, anonymous_id=anonymous_id, token=token)
    except ChatError as exc:
        return _error(exc)
    connection = chat.connect(visitor, page=page, language=lang)

    async def stream() -> AsyncIterator[str]:
        try:
            async for chunk in _drain(connection, request):
                yield chunk
        finally:
            chat.hub.disconnect_visitor(visitor.anonymous_id, connection)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    origin = allowed_origin(
        config, visitor.source, request.headers.get("origin"), _own_origin(request)
    )
    if origin:
        headers["Access-Control-Allow-Origin"] = origin
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)


@visitor_router.websocket("/v1/ws")
async def visitor_socket(
    websocket: WebSocket,
    write_key: Annotated[str, Query(alias="writeKey")],
    anonymous_id: Annotated[str, Query(alias="anonymousId")],
    token: str,
    page: str = "/",
    lang: str | None = None,
) -> None:
    """The widget's live connection: messages both ways, typing and read receipts; the
    visitor is present on `page` while it is open. A page on a site the source does not
    list in `tracker.chat_origins` is refused (WebSockets are not bound by CORS)."""
    chat = _chat(websocket)
    config: Config = websocket.app.state.system.settings.config
    try:
        visitor = chat.visitor(write_key=write_key, anonymous_id=anonymous_id, token=token)
    except ChatError:
        await websocket.close(code=4401)
        return
    origin = websocket.headers.get("origin")
    if origin and allowed_origin(config, visitor.source, origin, _own_origin(websocket)) is None:
        await websocket.close(code=4403)
        return
    await websocket.accept()
    connection = chat.connect(visitor, page=page, language=lang)

    async def send_down() -> None:
        while True:
            message = await connection.outbox.get()
            if message is None:
                await websocket.close()
                return
            await websocket.send_text(message)

    sender = asyncio.create_task(send_down())
    try:
        while True:
            raw = await websocket.receive_text()
            await websocket.send_json(await _frame(chat, visitor, raw))
    except WebSocketDisconnect:
        pass
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
        chat.hub.disconnect_visitor(visitor.anonymous_id, connection)


async def _frame(chat: ChatService, visitor: VisitorId, raw: str) -> dict[str, Any]:
    """Answer one frame from the widget: `{type, ref, …}` → `{type: "reply", ref, ok, …}`."""
    ref: Any = None
    try:
        if len(raw) > MAX_BODY:
            raise TooLarge(f"frame over {MAX_BODY} bytes / message trop grand", field="body")
        try:
            data = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            raise ChatError("frame: not JSON / JSON invalide", field="body") from exc
        if not isinstance(data, dict):
            raise ChatError("frame: a JSON object is required / objet requis", field="body")
        ref = data.get("ref")
        call = WIDGET_CALLS.get(str(data.get("type")))
        if call is None:
            raise ChatError(f"type: unknown {data.get('type')!r} / type inconnu", field="type")
        result = await call[0](chat, visitor, data)
        return {"type": "reply", "ref": ref, "ok": True, "result": result}
    except ChatError as exc:
        error: dict[str, Any] = {"status": exc.status, "detail": str(exc.args[0])}
        if exc.field:
            error["field"] = exc.field
        if isinstance(exc, TooMany):
            error["retry_after"] = exc.retry_after
        return {"type": "reply", "ref": ref, "ok": False, "error": error}


# The console.


async def _done(action: Awaitable[None]) -> dict[str, bool]:
    """`{"ok": true}` once `action` is done."""
    await action
    return {"ok": True}


def _agent_call(fn: Callable[[], Awaitable[Any] | Any]) -> Callable[[], Awaitable[Response]]:
    async def run() -> Response:
        try:
            result = fn()
            if asyncio.iscoroutine(result):
                result = await result
            return JSONResponse(result)
        except ChatError as exc:
            return _error(exc)

    return run


def _own_only(user: Principal) -> str | None:
    """The user, when their role sees only its own objects (issue 17: a salesperson does not
    read a colleague's chats, as they do not read a colleague's interaction notes)."""
    return user.username if scope_of(user.role) is Scope.OWN else None


@router.get("/inbox", response_class=JSONResponse)
async def inbox(chat: ChatDep, user: ChatAgent) -> Response:
    """The console's state: open conversations, visitors on the site now, the agents on
    duty and connected, the canned answers, and who is asking (and whether they see only
    the queue and their own conversations)."""
    return JSONResponse(
        {
            "me": user.username,
            "own_only": _own_only(user) is not None,
            "conversations": await chat.inbox(reader=_own_only(user)),
            "visitors": chat.hub.snapshot(),
            "on_duty": chat.agents_on_duty(),
            "connected": chat.hub.connected_agents(),
            "canned": chat.canned(),
        }
    )


@router.get(
    "/kpis",
    response_class=JSONResponse,
    dependencies=[Depends(require("interactions", "read"))],
)
async def kpis(chat: ChatDep) -> Response:
    """The chat's KPIs, live: first response time, resolution, conversion after a proactive
    chat, after a chat the visitor opened and without a chat, objections per campaign."""
    return JSONResponse(chat.kpis.snapshot())


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "an endless stream"}},
)
async def console_stream(request: Request, chat: ChatDep, user: ChatAgent) -> StreamingResponse:
    """The console's live feed: new conversations, messages, typing, read receipts,
    visitors arriving and leaving, and (to a salesperson) the conversations a colleague took."""
    connection = chat.hub.connect_agent(user.username, own_only=_own_only(user) is not None)

    async def stream() -> AsyncIterator[str]:
        try:
            async for chunk in _drain(connection, request):
                yield chunk
        finally:
            chat.hub.disconnect_agent(user.username, connection)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/conversations/{conversation_id}", response_class=JSONResponse)
async def conversation(chat: ChatDep, user: ChatAgent, conversation_id: str) -> Response:
    """One conversation with its messages, tags, owner and outcome."""
    return await _agent_call(lambda: chat.conversation(conversation_id, reader=_own_only(user)))()


@router.post("/conversations/{conversation_id}/messages", response_class=JSONResponse)
async def reply(
    chat: ChatDep,
    user: ChatAgent,
    conversation_id: str,
    text: Annotated[str, Body(embed=True, max_length=100_000)],
) -> Response:
    """Reply; the first agent to reply owns the conversation (others get 403)."""
    return await _agent_call(lambda: chat.agent_says(user.username, conversation_id, text))()


@router.post("/conversations/{conversation_id}/assign", response_class=JSONResponse)
async def assign(
    chat: ChatDep,
    user: ChatAgent,
    conversation_id: str,
    to: Annotated[str, Body(embed=True, max_length=200)],
) -> Response:
    """Take an unowned conversation (`to` = yourself) or transfer yours to an agent on duty."""
    return await _agent_call(lambda: chat.assign(user.username, conversation_id, to))()


@router.post("/conversations/{conversation_id}/tags", response_class=JSONResponse)
async def tag(
    chat: ChatDep,
    user: ChatAgent,
    conversation_id: str,
    tags: Annotated[list[str], Body(embed=True, max_length=20)],
) -> Response:
    """Tag the objections met ("price", "delivery time", "bug at checkout")."""
    return await _agent_call(lambda: chat.tag(user.username, conversation_id, tags))()


@router.post("/conversations/{conversation_id}/close", response_class=JSONResponse)
async def close(
    chat: ChatDep,
    user: ChatAgent,
    conversation_id: str,
    outcome: Annotated[str, Body(embed=True, max_length=200)],
) -> Response:
    """Close with an outcome ("answered", "sale", "bug reported" …)."""
    return await _agent_call(lambda: chat.close(user.username, conversation_id, outcome))()


@router.post("/conversations/{conversation_id}/typing", response_class=JSONResponse)
async def typing(chat: ChatDep, user: ChatAgent, conversation_id: str) -> Response:
    """The agent is typing: the visitor's widget shows it."""
    return await _agent_call(lambda: _done(chat.agent_typing(user.username, conversation_id)))()


@router.post("/conversations/{conversation_id}/read", response_class=JSONResponse)
async def read(
    chat: ChatDep,
    user: ChatAgent,
    conversation_id: str,
    message_id: Annotated[str, Body(embed=True, max_length=64)],
) -> Response:
    """The agent has read up to `message_id`: a read receipt on the visitor's widget."""
    return await _agent_call(
        lambda: _done(chat.agent_read(user.username, conversation_id, message_id))
    )()
