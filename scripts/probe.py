#!/usr/bin/env python3
"""Asks a Kafka broker or a Cassandra node a real question, with the standard library only.

    probe.py kafka HOST:PORT        a Metadata request (v4); prints the brokers and cluster id
    probe.py cql HOST:PORT          SELECT release_version FROM system.local; prints the version

Exit 0 when the service answered, 1 otherwise (one line on stderr says why). scripts/services
uses it to wait until a service really answers: an open port is not enough, since Kafka opens
its port before the controller is elected and Cassandra before its schema is ready.
Cassandra credentials, when needed, come from CASSANDRA_USER / CASSANDRA_PASSWORD.
"""
import os
import socket
import struct
import sys

TIMEOUT_S = 5.0


def split_addr(addr):
    host, _, port = addr.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {addr!r}")
    return host, int(port)


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by peer")
        buf += chunk
    return buf


# ---------------------------------------------------------------- Kafka wire protocol


def kafka_string(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        size = struct.calcsize(fmt)
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return value

    def string(self, nullable=False):
        n = self.take(">h")
        if n < 0:
            return None
        s = self.data[self.pos : self.pos + n].decode()
        self.pos += n
        return s


def probe_kafka(addr):
    host, port = split_addr(addr)
    # Metadata v4: topics = [] (no topic), allow_auto_topic_creation = false.
    body = struct.pack(">i", 0) + b"\x00"
    header = struct.pack(">hhi", 3, 4, 1) + kafka_string("meteo-probe")
    request = header + body
    with socket.create_connection((host, port), timeout=TIMEOUT_S) as sock:
        sock.settimeout(TIMEOUT_S)
        sock.sendall(struct.pack(">i", len(request)) + request)
        size = struct.unpack(">i", recv_exact(sock, 4))[0]
        r = Reader(recv_exact(sock, size))
    if r.take(">i") != 1:
        raise ValueError("unexpected correlation id")
    r.take(">i")  # throttle_time_ms
    brokers = []
    for _ in range(r.take(">i")):
        node_id = r.take(">i")
        bhost = r.string()
        bport = r.take(">i")
        r.string(nullable=True)  # rack
        brokers.append(f"{node_id}@{bhost}:{bport}")
    cluster_id = r.string(nullable=True)
    controller = r.take(">i")
    if not brokers or controller < 0:
        raise ValueError("broker answered but has no controller yet")
    return f"brokers {', '.join(brokers)}; cluster {cluster_id}; controller {controller}"


# ---------------------------------------------------------------- CQL native protocol v4

OP_ERROR, OP_STARTUP, OP_READY, OP_AUTHENTICATE = 0x00, 0x01, 0x02, 0x03
OP_QUERY, OP_RESULT, OP_AUTH_RESPONSE, OP_AUTH_SUCCESS = 0x07, 0x08, 0x0F, 0x10


def cql_string(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def cql_frame(stream, opcode, body):
    return struct.pack(">BBhBi", 0x04, 0, stream, opcode, len(body)) + body


def cql_read(sock):
    version, _flags, _stream, opcode, length = struct.unpack(">BBhBi", recv_exact(sock, 9))
    if version != 0x84:
        raise ValueError(f"unexpected protocol version byte {version:#x}")
    body = recv_exact(sock, length)
    if opcode == OP_ERROR:
        code = struct.unpack_from(">i", body)[0]
        n = struct.unpack_from(">H", body, 4)[0]
        raise ValueError(f"error {code:#x}: {body[6:6 + n].decode(errors='replace')}")
    return opcode, body


def probe_cql(addr):
    host, port = split_addr(addr)
    with socket.create_connection((host, port), timeout=TIMEOUT_S) as sock:
        sock.settimeout(TIMEOUT_S)
        startup = struct.pack(">H", 1) + cql_string("CQL_VERSION") + cql_string("3.0.0")
        sock.sendall(cql_frame(1, OP_STARTUP, startup))
        opcode, _ = cql_read(sock)
        if opcode == OP_AUTHENTICATE:
            user = os.environ.get("CASSANDRA_USER", "")
            password = os.environ.get("CASSANDRA_PASSWORD", "")
            token = b"\x00" + user.encode() + b"\x00" + password.encode()
            sock.sendall(cql_frame(2, OP_AUTH_RESPONSE, struct.pack(">i", len(token)) + token))
            opcode, _ = cql_read(sock)
            if opcode != OP_AUTH_SUCCESS:
                raise ValueError("authentication failed")
        elif opcode != OP_READY:
            raise ValueError(f"unexpected answer to STARTUP (opcode {opcode:#x})")
        query = b"SELECT release_version FROM system.local"
        body = struct.pack(">i", len(query)) + query + struct.pack(">HB", 0x0001, 0)
        sock.sendall(cql_frame(3, OP_QUERY, body))
        opcode, body = cql_read(sock)
    if opcode != OP_RESULT:
        raise ValueError(f"unexpected answer to QUERY (opcode {opcode:#x})")
    r = Reader(body)
    if r.take(">i") != 2:  # Rows
        raise ValueError("QUERY did not return rows")
    flags, columns = r.take(">i"), r.take(">i")
    if flags & 0x0002:
        r.pos += max(r.take(">i"), 0)  # paging state [bytes]
    if flags & 0x0001:
        r.string(), r.string()  # global keyspace and table
    for _ in range(columns):
        if not flags & 0x0001:
            r.string(), r.string()
        r.string()  # column name
        r.take(">H")  # type id (varchar: no further option)
    if r.take(">i") < 1:
        raise ValueError("system.local is empty")
    n = r.take(">i")
    return "Cassandra " + r.data[r.pos : r.pos + n].decode()


def main(argv):
    if len(argv) != 3 or argv[1] not in ("kafka", "cql"):
        print("usage: probe.py kafka|cql HOST:PORT", file=sys.stderr)
        return 2
    kind, addr = argv[1], argv[2]
    try:
        print(probe_kafka(addr) if kind == "kafka" else probe_cql(addr))
        return 0
    except (OSError, ValueError, struct.error) as e:
        print(f"{kind} at {addr}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
