"""A Web Push service for webpush.so's tests: it plays a browser's push
service (Mozilla autopush, FCM's Web Push endpoint, Apple's) and the
browser itself, since it holds each subscription's private key.  HTTPS on
one port, HTTP/2 when the client offers it in ALPN, HTTP/1.1 otherwise
(--http1: HTTP/1.1 only).

  POST /subscribe        a new subscription, answered with the JSON a
                         browser's PushSubscription.toJSON() gives.  The
                         request's JSON may set "fail" (the status every
                         push to it gets after it was checked and
                         decrypted: 404, 410, 413, 429 with Retry-After
                         "retry_after", 500, ...) and
                         "applicationServerKey" (RFC 8292 section 4: only
                         pushes whose VAPID k is that key are accepted,
                         others get 403)
  POST /push/ID          a push message (RFC 8030 section 5)
  GET  /control/stats    counters as JSON

Each push is checked as a push service and a user agent would: the
headers TTL (RFC 8030 section 5.2), Urgency (5.3), Topic (5.4),
Content-Encoding aes128gcm; Authorization "vapid t=JWT, k=KEY" (RFC 8292
section 3): an ES256 signature that verifies with k, aud the origin of
this service, exp in the future and at most 24 hours ahead, sub a mailto:
or https: URI (section 2); then the body is decrypted (RFC 8291 section
3.4, RFC 8188 section 2) with the subscription's private key and auth
secret.  A bad VAPID header gets 401 (403 for a key the subscription was
not made for), a body that does not decrypt 400.  Every push is recorded
as a JSON line: path, headers, status, reason, the JWT's claims, and the
plaintext (as JSON when it parses).

Usage: webpush_mock.py --cert C --key K [--port N] [--port-file F]
                       [--record F] [--http1] [--no-record-plaintext]
Needs Debian's python3-h2 and python3-cryptography.
"""
import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import ssl
import struct
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import \
    encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, \
    PublicFormat

JWT_MAX_AHEAD = 24 * 3600   # RFC 8292 section 2
URGENCIES = ("very-low", "low", "normal", "high")
TOPIC_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
BODY_MAX = 4096             # RFC 8030 section 7.2: what we accept


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64e(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def hkdf_extract(salt, ikm):
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def hkdf_expand(prk, info, length):
    # One block suffices: length <= 32.
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()[:length]


class Refused(Exception):
    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Scripted(Exception):
    def __init__(self, status, extra):
        super().__init__(status)
        self.status = status
        self.extra = extra


class Sub:
    def __init__(self, fail, retry_after, server_key):
        self.id = secrets.token_urlsafe(24)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.public = self.key.public_key().public_bytes(
            Encoding.X962, PublicFormat.UncompressedPoint)
        self.auth = secrets.token_bytes(16)
        self.fail = fail
        self.retry_after = retry_after
        self.server_key = server_key

    def decrypt(self, body):
        """RFC 8291 section 3.4 and RFC 8188 section 2, the browser's way."""
        if len(body) < 21 + 65 + 17:
            raise Refused(400, "body shorter than an aes128gcm header and "
                          "a record")
        salt, rs, idlen = body[:16], struct.unpack(">I", body[16:20])[0], \
            body[20]
        if idlen != 65:
            raise Refused(400, "keyid is %d bytes, not a P-256 point" %
                          idlen)
        as_public = body[21:86]
        record = body[86:]
        if rs < 18 or len(record) > rs:
            raise Refused(400, "more than one record (rs %d, %d bytes)" %
                          (rs, len(record)))
        try:
            peer = ec.EllipticCurvePublicKey.from_encoded_point(
                ec.SECP256R1(), as_public)
        except ValueError:
            raise Refused(400, "keyid is not a point on P-256")
        secret = self.key.exchange(ec.ECDH(), peer)
        prk_key = hkdf_extract(self.auth, secret)
        ikm = hkdf_expand(prk_key, b"WebPush: info\x00" + self.public +
                          as_public, 32)
        prk = hkdf_extract(salt, ikm)
        cek = hkdf_expand(prk, b"Content-Encoding: aes128gcm\x00", 16)
        nonce = hkdf_expand(prk, b"Content-Encoding: nonce\x00", 12)
        try:
            plain = AESGCM(cek).decrypt(nonce, record, None)
        except InvalidTag:
            raise Refused(400, "the record does not decrypt")
        stripped = plain.rstrip(b"\x00")
        if not stripped.endswith(b"\x02"):
            raise Refused(400, "no last-record delimiter")
        return stripped[:-1], len(plain) - len(stripped)

    def json(self, origin):
        return {"endpoint": "%s/push/%s" % (origin, self.id),
                "expirationTime": None,
                "keys": {"p256dh": b64e(self.public),
                         "auth": b64e(self.auth)}}


def check_vapid(value, origin, sub):
    """RFC 8292 sections 2 and 3: returns the claims; raises Refused."""
    m = re.match(r"^vapid\s+(.*)$", value or "", re.I)
    if not m:
        raise Refused(401, "no vapid Authorization")
    params = {}
    for part in m.group(1).split(","):
        k, _, v = part.strip().partition("=")
        params[k.strip().lower()] = v.strip()
    if "t" not in params or "k" not in params:
        raise Refused(401, "vapid without t or k")
    try:
        point = b64d(params["k"])
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(),
                                                           point)
        h64, c64, s64 = params["t"].split(".")
        header = json.loads(b64d(h64))
        claims = json.loads(b64d(c64))
        sig = b64d(s64)
    except (ValueError, TypeError):
        raise Refused(401, "the JWT or k does not parse")
    if header.get("alg") != "ES256" or len(sig) != 64:
        raise Refused(401, "the JWT is not ES256")
    try:
        key.verify(encode_dss_signature(int.from_bytes(sig[:32], "big"),
                                        int.from_bytes(sig[32:], "big")),
                   (h64 + "." + c64).encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise Refused(401, "the JWT's signature does not verify with k")
    now = time.time()
    if claims.get("aud") != origin:
        raise Refused(401, "aud %r is not %s" % (claims.get("aud"), origin))
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= now or exp > now + JWT_MAX_AHEAD:
        raise Refused(401, "exp %r is not within 24 hours ahead" % exp)
    s = claims.get("sub")
    if not isinstance(s, str) or not (s.startswith("mailto:") or
                                      s.startswith("https:")):
        raise Refused(401, "sub %r is no mailto: or https: URI" % s)
    if sub is not None and sub.server_key is not None and \
            b64d(sub.server_key) != point:
        raise Refused(403, "k is not the key this subscription was made "
                      "for")
    return claims, params["k"]


class Mock:
    def __init__(self, args):
        self.args = args
        self.origin = None
        self.subs = {}
        self.record = open(args.record, "a") if args.record else None
        self.stats = {"pushes": 0, "decrypted": 0, "refused": 0,
                      "connections": 0, "h2": 0, "http1": 0}

    def log(self, entry):
        if self.record:
            self.record.write(json.dumps(entry) + "\n")
            self.record.flush()

    def subscribe(self, body):
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            return 400, {"error": "not JSON"}, {}
        sub = Sub(req.get("fail"), req.get("retry_after"),
                  req.get("applicationServerKey"))
        self.subs[sub.id] = sub
        return 201, sub.json(self.origin), {}

    def push(self, path, headers, body):
        """One push: (status, extra headers, record entry)."""
        entry = {"path": path, "headers": headers, "length": len(body)}
        sub = self.subs.get(path[len("/push/"):])
        self.stats["pushes"] += 1
        try:
            if sub is None:
                raise Refused(404, "no such subscription")
            if headers.get("content-encoding") != "aes128gcm":
                raise Refused(400, "Content-Encoding is not aes128gcm")
            if not re.match(r"^[0-9]+$", headers.get("ttl", "")):
                raise Refused(400, "no TTL")
            if headers.get("urgency", "normal") not in URGENCIES:
                raise Refused(400, "bad Urgency")
            if "topic" in headers and not TOPIC_RE.match(headers["topic"]):
                raise Refused(400, "bad Topic")
            if len(body) > BODY_MAX:
                raise Refused(413, "payload over %d bytes" % BODY_MAX)
            entry["jwt"], entry["k"] = check_vapid(
                headers.get("authorization"), self.origin, sub)
            plain, padding = sub.decrypt(body)
            self.stats["decrypted"] += 1
            entry["padding"] = padding
            if not self.args.no_record_plaintext:
                try:
                    entry["plaintext"] = json.loads(plain)
                except ValueError:
                    entry["plaintext"] = plain.decode(errors="replace")
            if sub.fail:
                extra = {}
                if sub.retry_after is not None:
                    extra["retry-after"] = str(sub.retry_after)
                raise Scripted(int(sub.fail), extra)
            status, extra = 201, {"location": "%s/message/%s" % (
                self.origin, secrets.token_urlsafe(12))}
        except Scripted as e:
            status, extra = e.status, e.extra
            entry["reason"] = "scripted failure"
        except Refused as e:
            self.stats["refused"] += 1
            status, extra = e.status, {}
            entry["reason"] = e.reason
        entry["status"] = status
        entry["time"] = time.time()
        return status, extra, entry

    def route(self, method, path, headers, body):
        if method == "POST" and path == "/subscribe":
            status, doc, extra = self.subscribe(body)
            # Compact, as JSON.stringify(subscription) writes it.
            return status, json.dumps(doc, separators=(",", ":")).encode(), \
                extra
        if method == "GET" and path == "/control/stats":
            return 200, json.dumps(self.stats).encode(), {}
        if method == "POST" and path.startswith("/push/"):
            status, extra, entry = self.push(path, headers, body)
            self.log(entry)
            return status, b"", extra
        return 404, b"", {}


class H2Conn:
    def __init__(self, mock, reader, writer):
        self.mock = mock
        self.reader = reader
        self.writer = writer
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=False, header_encoding="utf-8"))
        self.streams = {}

    def flush(self):
        data = self.h2.data_to_send()
        if data and not self.writer.is_closing():
            self.writer.write(data)

    async def run(self):
        self.h2.initiate_connection()
        self.flush()
        while True:
            data = await self.reader.read(65536)
            if not data:
                break
            try:
                events = self.h2.receive_data(data)
            except h2.exceptions.ProtocolError:
                self.flush()
                break
            for ev in events:
                self.event(ev)
            self.flush()

    def event(self, ev):
        if isinstance(ev, h2.events.RequestReceived):
            self.streams[ev.stream_id] = (dict(ev.headers), bytearray())
        elif isinstance(ev, h2.events.DataReceived):
            if ev.stream_id in self.streams:
                self.streams[ev.stream_id][1].extend(ev.data)
            self.h2.acknowledge_received_data(ev.flow_controlled_length,
                                              ev.stream_id)
        elif isinstance(ev, h2.events.StreamEnded):
            if ev.stream_id in self.streams:
                self.answer(ev.stream_id)
        elif isinstance(ev, h2.events.StreamReset):
            self.streams.pop(ev.stream_id, None)

    def answer(self, sid):
        headers, body = self.streams.pop(sid)
        method, path = headers.get(":method"), headers.get(":path")
        hdrs = {k: v for k, v in headers.items() if not k.startswith(":")}
        hdrs[":version"] = "h2"
        try:
            status, out, extra = self.mock.route(method, path, hdrs,
                                                 bytes(body))
        except Exception as e:  # a mock bug must not hang the client
            status, out, extra = 500, ("mock: %r" % e).encode(), {}
        h = [(":status", str(status)), ("content-length", str(len(out)))]
        h += list(extra.items())
        try:
            self.h2.send_headers(sid, h, end_stream=not out)
            if out:
                self.h2.send_data(sid, out, end_stream=True)
        except h2.exceptions.H2Error:
            return


async def http1(mock, reader, writer):
    """HTTP/1.1 with keep-alive and Content-Length bodies only."""
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        body = await reader.readexactly(int(headers.get("content-length",
                                                        "0")))
        headers[":version"] = "http/1.1"
        try:
            status, out, extra = mock.route(method, path, headers, body)
        except Exception as e:
            status, out, extra = 500, ("mock: %r" % e).encode(), {}
        resp = "HTTP/1.1 %d X\r\nContent-Length: %d\r\n" % (status, len(out))
        resp += "".join("%s: %s\r\n" % kv for kv in extra.items())
        writer.write(resp.encode() + b"\r\n" + out)
        await writer.drain()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--record")
    ap.add_argument("--http1", action="store_true")
    ap.add_argument("--no-record-plaintext", action="store_true")
    args = ap.parse_args()
    mock = Mock(args)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    ctx.set_alpn_protocols(["http/1.1"] if args.http1 else
                           ["h2", "http/1.1"])

    async def handle(reader, writer):
        sslobj = writer.get_extra_info("ssl_object")
        mock.stats["connections"] += 1
        try:
            if sslobj is not None and sslobj.selected_alpn_protocol() == "h2":
                mock.stats["h2"] += 1
                await H2Conn(mock, reader, writer).run()
            else:
                mock.stats["http1"] += 1
                await http1(mock, reader, writer)
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", args.port,
                                        ssl=ctx, reuse_address=True)
    port = server.sockets[0].getsockname()[1]
    mock.origin = "https://127.0.0.1:%d" % port
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.rename(args.port_file + ".tmp", args.port_file)
    print("webpush_mock: listening on %s" % mock.origin, file=sys.stderr)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
