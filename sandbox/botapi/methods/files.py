"""Files: photos and documents sent by the bot, and getFile."""

from __future__ import annotations

import mimetypes
from typing import Any

from sandbox.botapi.errors import ApiError
from sandbox.botapi.formatting import FormattedText
from sandbox.botapi.media import image_size
from sandbox.botapi.methods.call import (
    MAX_DOWNLOAD_BYTES,
    MAX_PHOTO_BYTES,
    MAX_UPLOAD_BYTES,
    MethodCall,
)
from sandbox.botapi.methods.messages import _caption, _chat, _send
from sandbox.botapi.spec import UploadedFile
from sandbox.botapi.state import StoredFile


def _existing_file(call: MethodCall, value: str, kind: str) -> StoredFile:
    if value.startswith(("http://", "https://")):
        raise ApiError("Bad Request: the sandbox cannot fetch files by URL; upload the file")
    stored = call.state.files.get(value)
    if stored is None or stored.bot_id != call.bot.id or stored.kind != kind:
        raise ApiError("Bad Request: wrong file identifier/HTTP URL specified")
    return stored


def _photo_sizes(call: MethodCall, upload: UploadedFile) -> list[dict[str, Any]]:
    if len(upload.data) > MAX_PHOTO_BYTES:
        raise ApiError("Bad Request: PHOTO_SAVE_FILE_INVALID (photos are at most 10 MB)")
    size = image_size(upload.data)
    if size is None:
        raise ApiError("Bad Request: IMAGE_PROCESS_FAILED")
    width, height, extension = size
    if (
        width == 0
        or height == 0
        or width + height > 10000
        or max(width, height) > 20 * min(width, height)
    ):
        raise ApiError("Bad Request: PHOTO_INVALID_DIMENSIONS")
    sizes: list[dict[str, Any]] = []
    for bound in (90, 320, 800, 1280):
        scale = min(1.0, bound / max(width, height))
        w, h = max(1, round(width * scale)), max(1, round(height * scale))
        if sizes and (w, h) == (sizes[-1]["width"], sizes[-1]["height"]):
            break
        stored = call.state.store_file(
            call.bot, "photo", upload.data, extension=extension, width=w, height=h
        )
        sizes.append({**_file_fields(stored), "width": w, "height": h})
    for entry in sizes:
        call.state.files[entry["file_id"]].photo_sizes = sizes
    return sizes


def _file_fields(stored: StoredFile) -> dict[str, Any]:
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": len(stored.data),
    }


def send_photo(call: MethodCall) -> dict[str, Any]:
    chat = _chat(call, call.params["chat_id"])
    caption = _caption(call)
    photo = call.params["photo"]
    if isinstance(photo, UploadedFile):
        sizes = _photo_sizes(call, photo)
    else:
        sizes = _existing_file(call, photo, "photo").photo_sizes or []
    return _send(call, chat, photo=sizes, **_caption_fields(call, caption))


def _caption_fields(call: MethodCall, caption: FormattedText | None) -> dict[str, Any]:
    if caption is None or not caption.text:
        return {}
    return {
        "caption": caption.text,
        "caption_entities": list(caption.entities),
        "source": call.params["caption"],
        "parse_mode": call.params.get("parse_mode"),
    }


def send_document(call: MethodCall) -> dict[str, Any]:
    chat = _chat(call, call.params["chat_id"])
    caption = _caption(call)
    document = call.params["document"]
    if isinstance(document, UploadedFile):
        if not document.data:
            raise ApiError("Bad Request: file must be non-empty")
        if len(document.data) > MAX_UPLOAD_BYTES:
            raise ApiError("Request Entity Too Large", 413)
        guessed = mimetypes.guess_type(document.filename)[0]
        part_type = (
            document.content_type if document.content_type != "application/octet-stream" else None
        )
        mime_type = guessed or part_type or "application/octet-stream"
        extension = mimetypes.guess_extension(mime_type) or ""
        stored = call.state.store_file(
            call.bot,
            "document",
            document.data,
            extension=extension,
            file_name=document.filename,
            mime_type=mime_type,
        )
    else:
        stored = _existing_file(call, document, "document")
    fields = {**_file_fields(stored), "file_name": stored.file_name, "mime_type": stored.mime_type}
    return _send(call, chat, document=fields, **_caption_fields(call, caption))


def get_file(call: MethodCall) -> dict[str, Any]:
    stored = call.state.files.get(call.params["file_id"])
    if stored is None or stored.bot_id != call.bot.id:
        raise ApiError("Bad Request: invalid file_id")
    if len(stored.data) > MAX_DOWNLOAD_BYTES:
        raise ApiError("Bad Request: file is too big")
    return stored.to_api()
