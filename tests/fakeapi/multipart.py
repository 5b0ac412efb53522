"""multipart/form-data bodies (image edits, Replicate file uploads), parsed with the stdlib."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP


@dataclass
class FormData:
    fields: dict[str, str] = field(default_factory=dict)  # the last value of each text field
    # (field name, filename, content type, bytes) of every file part, in order
    files: list[tuple[str, str | None, str | None, bytes]] = field(default_factory=list)


class MultipartError(ValueError):
    pass


def parse(content_type: str, raw: bytes) -> FormData:
    """Split a multipart/form-data body into its text fields and file parts."""
    if "boundary=" not in content_type:
        raise MultipartError("multipart/form-data without a boundary")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + raw)
    if not message.is_multipart():
        raise MultipartError("the body is not multipart")
    form = FormData()
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            form.files.append((name, filename, part.get("content-type"), data))
        else:
            form.fields[name] = data.decode("utf-8", "replace")
    return form
