"""iocLogServer of the iocdock demo image.

    ioc_log_server.py

What EPICS base's iocLogServer does, for an image that has no compiled one:
listen on TCP port EPICS_IOC_LOG_PORT (default 7004) for the log clients of
IOCs (`iocLogInit`, caPutLog) and write every line they send to the file
EPICS_IOC_LOG_FILE_NAME (required) as

    <client address>:<client port> <time the line arrived, as ctime()> <line>

At EPICS_IOC_LOG_FILE_LIMIT bytes (default 10000; 0: no limit) the rest of the
file is blanked and writing starts again at its top, as base's server does. A
line longer than 1024 bytes without a newline is written in pieces. The file is
flushed after every batch of lines, so a reader sees a line as soon as it is in.

Differences from base's server: a restart continues at the end of an existing
file (base looks for the line with the latest date), and
EPICS_IOC_LOG_FILE_COMMAND is not run.
"""

import os
import selectors
import signal
import socket
import sys
import time

# recvbuf of base's iocLogClient: a longer line without a newline is cut here.
LINE_LIMIT = 1024


def fail(message):
    print(f"iocLogServer: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def config():
    try:
        port = int(os.environ.get("EPICS_IOC_LOG_PORT", "") or 7004)
        limit = int(os.environ.get("EPICS_IOC_LOG_FILE_LIMIT", "") or 10000)
    except ValueError as e:
        fail(f"EPICS environment variable has a bad value: {e}")
    if limit < 0:
        fail("EPICS_IOC_LOG_FILE_LIMIT must not be negative")
    name = os.environ.get("EPICS_IOC_LOG_FILE_NAME", "")
    if not name:
        fail("EPICS environment underspecified: EPICS_IOC_LOG_FILE_NAME is not set")
    return port, limit, name


class LogFile:
    def __init__(self, name, limit):
        self.limit = limit
        try:
            self.file = open(name, "r+b" if os.path.exists(name) else "w+b")
        except OSError as e:
            fail(f"cannot open {name}: {e}")
        self.file.seek(0, os.SEEK_END)
        self.pos = self.file.tell()
        if self.limit and self.pos >= self.limit:
            self.file.seek(0)
            self.pos = 0

    def write(self, client, line):
        stamp = time.ctime().encode()
        entry = client + b" " + stamp + b" " + line + b"\n"
        if self.limit and self.pos + len(entry) >= self.limit:
            if self.limit > self.pos:
                self.file.write(b" " * (self.limit - self.pos))
            self.file.flush()
            self.file.seek(0)
            self.pos = 0
        self.file.write(entry)
        self.pos += len(entry)

    def flush(self):
        try:
            self.file.flush()
        except OSError as e:
            fail(f"log file access problem ({e})")


def main():
    port, limit, name = config()
    log = LogFile(name, limit)
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.bind(("", port))
    except OSError as e:
        fail(f"bind err: {e} (is another iocLogServer on port {port}?)")
    server.listen(16)
    server.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(server, selectors.EVENT_READ, None)
    pending = {}

    def stop(_signum, _frame):
        log.flush()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def drop(conn):
        rest = pending.pop(conn, None)
        if rest and rest[1]:
            log.write(rest[0], rest[1])
        selector.unregister(conn)
        conn.close()

    while True:
        for key, _ in selector.select():
            if key.data is None:
                try:
                    conn, (host, client_port) = server.accept()
                except OSError:
                    continue
                conn.setblocking(False)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                # Base's server never writes to a client and says so at once.
                try:
                    conn.shutdown(socket.SHUT_WR)
                except OSError:
                    conn.close()
                    continue
                pending[conn] = (f"{host}:{client_port}".encode(), b"")
                selector.register(conn, selectors.EVENT_READ, True)
                continue
            conn = key.fileobj
            try:
                data = conn.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                drop(conn)
                continue
            client, buffer = pending[conn]
            buffer += data
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                log.write(client, line)
            while len(buffer) >= LINE_LIMIT:
                log.write(client, buffer[:LINE_LIMIT])
                buffer = buffer[LINE_LIMIT:]
            pending[conn] = (client, buffer)
        log.flush()


if __name__ == "__main__":
    main()
