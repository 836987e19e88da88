"""A small SMTP server on loopback (RFC 5321 without extensions beyond 8BITMIME): enough for
the broker's real SMTP client to deliver to, so the mailer is tested over the wire."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class Delivery:
    sender: str
    recipients: list[str]
    data: bytes


@dataclass
class SmtpSink:
    deliveries: list[Delivery] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    server: asyncio.AbstractServer | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 sink.test ESMTP\r\n")
        sender, recipients, lines, in_data = "", [], [], False
        while line := await reader.readline():
            if in_data:
                if line == b".\r\n":
                    self.deliveries.append(Delivery(sender, recipients, b"".join(lines)))
                    sender, recipients, lines, in_data = "", [], [], False
                    writer.write(b"250 2.0.0 queued\r\n")
                else:
                    lines.append(line[1:] if line.startswith(b"..") else line)
                continue
            command = line.decode("ascii", "replace").strip()
            verb = command.split(" ", 1)[0].upper()
            self.commands.append(verb)
            if verb == "EHLO":
                writer.write(b"250-sink.test\r\n250 8BITMIME\r\n")
            elif verb in ("HELO", "RSET", "NOOP"):
                writer.write(b"250 OK\r\n")
            elif verb == "MAIL":
                sender = command.split(":", 1)[1].strip().strip("<>")
                writer.write(b"250 OK\r\n")
            elif verb == "RCPT":
                recipients.append(command.split(":", 1)[1].strip().strip("<>"))
                writer.write(b"250 OK\r\n")
            elif verb == "DATA":
                in_data = True
                writer.write(b"354 go ahead\r\n")
            elif verb == "QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"502 5.5.2 not implemented\r\n")
            await writer.drain()
        writer.close()
