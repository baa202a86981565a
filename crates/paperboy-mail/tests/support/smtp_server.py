"""A real SMTP server for Paperboy's tests, on aiosmtpd.

Usage: python3 smtp_server.py PORT FOLDER [DELAY]
(or python3 -c "$(cat smtp_server.py)" PORT FOLDER [DELAY])

Every accepted message is written whole to FOLDER as <n>.eml, and, read the way a mail client
reads it (Python's email package), as <n>.json: its headers, the MIME type of each part, and
the decoded text and HTML. Addresses are answered by the
start of their local part, so that tests can provoke each kind of failure:
  recipients  bounce…  550 (refused for good)    later…  451 (try again later)
  senders     refused…  554 (the sender refused for good)
  anything else is accepted.
With DELAY (seconds, a decimal), every recipient is answered only after that long, as a busy
server does: a client's conversation is then slow without any message being accepted early.
Prints "ready" once listening; stops when its standard input closes.
"""

import asyncio
import email
import email.policy
import itertools
import json
import os
import sys

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, folder, delay=0.0):
        self.folder = folder
        self.delay = delay
        self.count = itertools.count()

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if address.split("@")[0].startswith("refused"):
            return "554 5.7.1 sender refused"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.delay:
            await asyncio.sleep(self.delay)
        local = address.split("@")[0]
        if local.startswith("bounce"):
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        if local.startswith("later"):
            return f"451 4.3.0 <{address}>: try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content or envelope.content
        stem = os.path.join(self.folder, str(next(self.count)))
        write(stem + ".json", json.dumps(parse(content, envelope.rcpt_tos)).encode())
        write(stem + ".eml", content)
        return "250 Message accepted"


def write(path, data):
    with open(path + ".partial", "wb") as file:
        file.write(data)
    os.rename(path + ".partial", path)


def parse(content, recipients):
    message = email.message_from_bytes(content, policy=email.policy.default)
    parsed = {
        "recipients": recipients,
        "headers": {name: str(value) for name, value in message.items()},
        "types": [part.get_content_type() for part in message.walk()],
        "text": None,
        "html": None,
    }
    for part in message.walk():
        if part.get_content_type() == "text/plain" and parsed["text"] is None:
            parsed["text"] = part.get_content()
        elif part.get_content_type() == "text/html" and parsed["html"] is None:
            parsed["html"] = part.get_content()
    return parsed


def main():
    port, folder = int(sys.argv[1]), sys.argv[2]
    delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    controller = Controller(Handler(folder, delay), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
