#!/usr/bin/env python3
"""Asks a Kafka broker or a Cassandra node a real question, with the standard library only.

    scripts/probe.py kafka HOST:PORT     a Metadata request (v4); prints the brokers and cluster id
    scripts/probe.py cql HOST:PORT       SELECT release_version FROM system.local; prints the version
    scripts/probe.py cql-ring HOST:PORT  the node's bootstrap state and peers; prints "ring of N",
                                         fails unless the node has joined (bootstrapped COMPLETED)
    scripts/probe.py cql-run HOST:PORT   runs the CQL statements of stdin (one a line; blank
                                         lines and lines starting with -- are skipped)
    scripts/probe.py --help              this text

Exit 0 when the service answered, 1 otherwise (one line on stderr says why). scripts/services
uses it to wait until a service really answers: an open port is not enough, since Kafka opens
its port before the controller is elected and Cassandra before its schema is ready; and
`cql-run` creates the roles of the secured pair.

It connects the way meteo does, from the same environment:
  Kafka: METEO_KAFKA_CONFIG, a librdkafka properties file; security.protocol PLAINTEXT, SSL or
    SASL_SSL, sasl.mechanisms SCRAM-SHA-512 or SCRAM-SHA-256, sasl.username, sasl.password,
    ssl.ca.location (PEM). Without it, plaintext.
  Cassandra: CASSANDRA_USER with CASSANDRA_PASSWORD or CASSANDRA_PASSWORD_FILE, when the node
    asks for a password; CASSANDRA_TLS=true for TLS, verified against CASSANDRA_CA (PEM).
"""
import base64
import hashlib
import hmac
import os
import secrets
import socket
import ssl
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


def connect(host, port, tls, cafile):
    """A TCP connection, wrapped in TLS (chain and host name verified) when asked."""
    sock = socket.create_connection((host, port), timeout=TIMEOUT_S)
    sock.settimeout(TIMEOUT_S)
    if not tls:
        return sock
    try:
        return ssl.create_default_context(cafile=cafile).wrap_socket(sock, server_hostname=host)
    except BaseException:
        sock.close()
        raise


# ---------------------------------------------------------------- Kafka wire protocol


def kafka_string(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def kafka_bytes(b):
    return struct.pack(">i", len(b)) + b


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        size = struct.calcsize(fmt)
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return value

    def raw(self, n):
        value = self.data[self.pos : self.pos + n]
        self.pos += n
        return value

    def string(self, nullable=False):
        n = self.take(">h")
        if n < 0:
            return None
        return self.raw(n).decode()

    def bytes(self):
        n = self.take(">i")
        return b"" if n < 0 else self.raw(n)


def kafka_call(sock, api_key, version, correlation_id, body):
    """One request with a v1 header (client id); returns a Reader on the response body."""
    header = struct.pack(">hhi", api_key, version, correlation_id) + kafka_string("meteo-probe")
    request = header + body
    sock.sendall(struct.pack(">i", len(request)) + request)
    size = struct.unpack(">i", recv_exact(sock, 4))[0]
    r = Reader(recv_exact(sock, size))
    if r.take(">i") != correlation_id:
        raise ValueError("unexpected correlation id")
    return r


def kafka_properties():
    """The key=value lines of METEO_KAFKA_CONFIG (# comments), as kcat -F reads them."""
    path = os.environ.get("METEO_KAFKA_CONFIG")
    props = {}
    if not path:
        return props
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            key, sep, value = line.partition("=")
            if line and not line.startswith("#") and sep:
                props[key.strip()] = value.strip()
    return props


def sasl_step(sock, correlation_id, message):
    """SaslAuthenticate v1: sends one client message, returns the server's."""
    r = kafka_call(sock, 36, 1, correlation_id, kafka_bytes(message))
    error, text = r.take(">h"), r.string(nullable=True)
    if error:
        raise ValueError(f"SASL authentication refused (error {error}): {text}")
    return r.bytes().decode()


def scram_login(sock, mechanism, user, password):
    """SCRAM (RFC 5802) over SaslHandshake v1 and SaslAuthenticate v1, as Kafka speaks it."""
    digest = {"SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}.get(mechanism.upper())
    if digest is None:
        raise ValueError(f"sasl.mechanisms {mechanism!r}: the probe speaks SCRAM-SHA-256/512 only")
    r = kafka_call(sock, 17, 1, 2, kafka_string(mechanism.upper()))
    error = r.take(">h")
    if error:
        offered = [r.string() for _ in range(r.take(">i"))]
        raise ValueError(f"SASL handshake refused (error {error}); the broker offers {offered}")
    nonce = secrets.token_urlsafe(24)
    client_first = "n=" + user.replace("=", "=3D").replace(",", "=2C") + ",r=" + nonce
    server_first = sasl_step(sock, 3, ("n,," + client_first).encode())
    attrs = dict(item.split("=", 1) for item in server_first.split(","))
    if not attrs.get("r", "").startswith(nonce):
        raise ValueError("SCRAM: the server's nonce does not extend ours")
    salt, iterations = base64.b64decode(attrs["s"]), int(attrs["i"])
    salted = hashlib.pbkdf2_hmac(digest, password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", digest).digest()
    final_bare = "c=biws,r=" + attrs["r"]
    auth_message = f"{client_first},{server_first},{final_bare}".encode()
    signature = hmac.new(hashlib.new(digest, client_key).digest(), auth_message, digest).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    server_final = sasl_step(sock, 4, f"{final_bare},p={base64.b64encode(proof).decode()}".encode())
    server_key = hmac.new(salted, b"Server Key", digest).digest()
    expected = base64.b64encode(hmac.new(server_key, auth_message, digest).digest()).decode()
    if server_final != "v=" + expected:
        raise ValueError(f"SCRAM: unexpected server final message {server_final!r}")


def kafka_connect(addr):
    host, port = split_addr(addr)
    props = kafka_properties()
    protocol = props.get("security.protocol", "PLAINTEXT").upper()
    if protocol not in ("PLAINTEXT", "SSL", "SASL_SSL", "SASL_PLAINTEXT"):
        raise ValueError(f"security.protocol {protocol!r} is not one the probe speaks")
    sock = connect(host, port, protocol.endswith("SSL"), props.get("ssl.ca.location"))
    if protocol.startswith("SASL_"):
        try:
            scram_login(
                sock,
                props.get("sasl.mechanisms", props.get("sasl.mechanism", "GSSAPI")),
                props.get("sasl.username", ""),
                props.get("sasl.password", ""),
            )
        except BaseException:
            sock.close()
            raise
    return sock


def probe_kafka(addr):
    # Metadata v4: topics = [] (no topic), allow_auto_topic_creation = false.
    with kafka_connect(addr) as sock:
        r = kafka_call(sock, 3, 4, 1, struct.pack(">i", 0) + b"\x00")
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


def cql_password():
    if "CASSANDRA_PASSWORD" in os.environ:
        return os.environ["CASSANDRA_PASSWORD"]
    path = os.environ.get("CASSANDRA_PASSWORD_FILE")
    if not path:
        return ""
    with open(path, encoding="utf-8") as f:
        return f.read().rstrip("\r\n")


def cql_connect(addr):
    """A ready CQL connection: STARTUP, then a password login when the node asks for one."""
    host, port = split_addr(addr)
    tls = os.environ.get("CASSANDRA_TLS", "false").lower() == "true"
    sock = connect(host, port, tls, os.environ.get("CASSANDRA_CA") or None)
    try:
        startup = struct.pack(">H", 1) + cql_string("CQL_VERSION") + cql_string("3.0.0")
        sock.sendall(cql_frame(1, OP_STARTUP, startup))
        opcode, _ = cql_read(sock)
        if opcode == OP_AUTHENTICATE:
            user = os.environ.get("CASSANDRA_USER", "")
            token = b"\x00" + user.encode() + b"\x00" + cql_password().encode()
            sock.sendall(cql_frame(2, OP_AUTH_RESPONSE, struct.pack(">i", len(token)) + token))
            opcode, _ = cql_read(sock)
            if opcode != OP_AUTH_SUCCESS:
                raise ValueError("authentication failed")
        elif opcode != OP_READY:
            raise ValueError(f"unexpected answer to STARTUP (opcode {opcode:#x})")
    except BaseException:
        sock.close()
        raise
    return sock


def cql_query(sock, stream, text):
    """One QUERY at consistency ONE; returns the RESULT body."""
    query = text.encode()
    body = struct.pack(">i", len(query)) + query + struct.pack(">HB", 0x0001, 0)
    sock.sendall(cql_frame(stream, OP_QUERY, body))
    opcode, body = cql_read(sock)
    if opcode != OP_RESULT:
        raise ValueError(f"unexpected answer to QUERY (opcode {opcode:#x})")
    return body


def cql_rows(body):
    """The rows of a RESULT body, each a list of column values as bytes (None when null)."""
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
        if r.take(">H") not in (0x0D, 0x10):  # varchar, inet: no further option
            raise ValueError("the probe reads varchar and inet columns only")
    rows = []
    for _ in range(r.take(">i")):
        row = []
        for _ in range(columns):
            n = r.take(">i")
            row.append(None if n < 0 else r.raw(n))
        rows.append(row)
    return rows


def probe_cql(addr):
    with cql_connect(addr) as sock:
        rows = cql_rows(cql_query(sock, 3, "SELECT release_version FROM system.local"))
    if not rows:
        raise ValueError("system.local is empty")
    return "Cassandra " + rows[0][0].decode()


def probe_ring(addr):
    """This node's own view: its bootstrap state and how many peers it knows. Asked of each
    node on its own address, since system.local and system.peers describe the node asked."""
    with cql_connect(addr) as sock:
        local = cql_rows(cql_query(sock, 3, "SELECT release_version, bootstrapped FROM system.local"))
        peers = cql_rows(cql_query(sock, 4, "SELECT peer FROM system.peers"))
    if not local:
        raise ValueError("system.local is empty")
    version, state = (v.decode() if v else "" for v in local[0])
    if state != "COMPLETED":
        raise ValueError(f"bootstrap state {state or 'unknown'}")
    return f"Cassandra {version}; ring of {len(peers) + 1}"


def run_cql(addr, lines):
    statements = [s.strip() for s in lines if s.strip() and not s.strip().startswith("--")]
    with cql_connect(addr) as sock:
        for stream, statement in enumerate(statements, start=3):
            try:
                cql_query(sock, stream % 32768, statement)
            except ValueError as e:
                # The statement may hold a password: name it by its first words only.
                raise ValueError(f"{' '.join(statement.split()[:3])} ...: {e}") from None
    return f"{len(statements)} statements run"


def main(argv):
    if len(argv) == 2 and argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    if len(argv) != 3 or argv[1] not in ("kafka", "cql", "cql-ring", "cql-run"):
        print("usage: probe.py kafka|cql|cql-ring|cql-run HOST:PORT (--help says more)", file=sys.stderr)
        return 2
    kind, addr = argv[1], argv[2]
    try:
        if kind == "kafka":
            print(probe_kafka(addr))
        elif kind == "cql":
            print(probe_cql(addr))
        elif kind == "cql-ring":
            print(probe_ring(addr))
        else:
            print(run_cql(addr, sys.stdin.read().splitlines()))
        return 0
    except (OSError, ValueError, KeyError, struct.error) as e:
        print(f"{kind} at {addr}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
