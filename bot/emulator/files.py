"""Direct messages and file uploads, the way slack_sdk's files_upload_v2 does them:
files.getUploadURLExternal, a POST of the bytes to the URL it gave, then
files.completeUploadExternal to share the file in a conversation."""

from __future__ import annotations

import json
from typing import Any

from bot.emulator.errors import MethodError, Params
from bot.emulator.workspace import Workspace


def conversations_open(ws: Workspace, p: Params) -> Params:
    users = [u for u in str(p.get("users", "")).split(",") if u]
    if len(users) != 1 or users[0] not in ws.users:
        raise MethodError("user_not_found")
    user = users[0]
    channel_id = ws.open_dm(user)["id"]
    return {"ok": True, "channel": {"id": channel_id, "is_im": True, "user": user}}


def files_get_upload_url(ws: Workspace, p: Params) -> Params:
    file_id = ws.new_id("F")
    ws.files[file_id] = {
        "id": file_id,
        "name": p["filename"],
        "length": int(p["length"]),
        "content": None,
        "shares": [],
    }
    return {"ok": True, "upload_url": f"{ws.base_url}/upload/{file_id}", "file_id": file_id}


def receive_upload(ws: Workspace, file_id: str, body: bytes) -> bool:
    stored = ws.files.get(file_id)
    if stored is None:
        return False
    stored["content"] = body
    return True


def files_complete_upload(ws: Workspace, p: Params) -> Params:
    listed: Any = p["files"]
    wanted = json.loads(listed) if isinstance(listed, str) else listed
    shared = []
    for entry in wanted:
        stored = ws.files.get(entry.get("id"))
        if stored is None or stored["content"] is None:
            raise MethodError("file_not_found")
        stored["title"] = entry.get("title") or stored["name"]
        shared.append(stored)
    channel_id = p.get("channel_id")
    if channel_id:
        channel = ws.channel_for_bot(channel_id, member=True)
        message = ws.bot_message({"text": p.get("initial_comment", "")})
        message["files"] = [{"id": f["id"], "name": f["name"], "title": f["title"]} for f in shared]
        stored_message = ws.store_message(channel["id"], message, p.get("thread_ts"), False)
        for f in shared:
            f["shares"].append({"channel": channel["id"], "ts": stored_message["ts"]})
    return {
        "ok": True,
        "files": [{"id": f["id"], "title": f["title"], "name": f["name"]} for f in shared],
    }
