"""A mock of Firebase Cloud Messaging HTTP v1 and Google's OAuth2 token
endpoint, for fcm.so's tests.  HTTPS with HTTP/2 only (ALPN h2), on one
port:

  POST /token                     OAuth2 JWT bearer grant (RFC 7523): the
                                  RS256 assertion is checked against the
                                  service account's key, iss, scope, aud,
                                  iat and exp
  POST /v1/projects/P/messages:send
                                  checks the bearer token and the message
                                  JSON, answers by the device token's prefix
  GET  /control/stats             counters as JSON
  POST /control/token             an access token for the test's own sends
  POST /control/revoke            forget every access token (next send: 401)
  POST /control/reject-auth       token requests get 400 invalid_grant
  POST /control/accept-auth       ... and back
  POST /control/reset             zero the counters

Device token prefixes: unregistered (404 UNREGISTERED), invalid (400
INVALID_ARGUMENT about the registration token), badarg (400
INVALID_ARGUMENT about something else), quota (429 QUOTA_EXCEEDED,
Retry-After: 7), quotadate (the same with an HTTP-date), unavailable (503
UNAVAILABLE), internal (500 INTERNAL), unspecified (500
UNSPECIFIED_ERROR), sendermismatch (403 SENDER_ID_MISMATCH), thirdparty
(401 THIRD_PARTY_AUTH_ERROR), forbidden (403 PERMISSION_DENIED), notfound
(404 NOT_FOUND without an errorCode, what a wrong project id gets), slow
(200 after --slow seconds), stall (200 after STALL_S, 60 seconds: a send
still in flight however slow the machine); anything else 200.  A message whose data (keys
and values, in bytes) is over 4096 bytes gets 400 INVALID_ARGUMENT
"Message is too big", as FCM answers it, whatever the token.

Usage: fcm_mock.py --cert C --key K --service-account SA.json
                   [--port N] [--port-file F] [--record F]
                   [--token-lifetime S] [--slow S]
Needs Debian's python3-h2 and python3-cryptography.
"""
import argparse
import asyncio
import base64
import email.utils
import json
import os
import re
import secrets
import ssl
import sys
import time
import urllib.parse

import h2.config
import h2.connection
import h2.events
import h2.exceptions
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
DATA_MAX = 4096     # FCM's limit: data keys + values, in bytes
STALL_S = 60.0      # the "stall" tokens' answer: after any test


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def fcm_error(code, status, message, error_code=None, details=None):
    d = list(details or [])
    if error_code:
        d.append({"@type": FCM_ERROR, "errorCode": error_code})
    return {"error": {"code": code, "message": message, "status": status,
                      "details": d}}


class Mock:
    def __init__(self, args):
        self.args = args
        with open(args.service_account) as f:
            sa = json.load(f)
        self.email = sa["client_email"]
        self.token_uri = sa["token_uri"]
        self.project = sa["project_id"]
        key = serialization.load_pem_private_key(
            sa["private_key"].encode(), password=None)
        self.pubkey = key.public_key()
        self.tokens = {}            # access token -> expiry (time.time())
        self.reject_auth = False
        self.stats = {"token": 0, "token_ok": 0, "send": 0, "send_ok": 0,
                      "connections": 0, "open": 0, "max_streams": 0,
                      "unauthorized": 0}
        self.record = open(args.record, "a") if args.record else None
        self.n = 0

    def log(self, entry):
        if self.record:
            self.record.write(json.dumps(entry) + "\n")
            self.record.flush()

    # /token
    def token(self, body):
        self.stats["token"] += 1
        form = urllib.parse.parse_qs(body.decode(), strict_parsing=True)
        if form.get("grant_type") != [GRANT]:
            return 400, {"error": "unsupported_grant_type"}
        if self.reject_auth:
            return 400, {"error": "invalid_grant",
                         "error_description": "Invalid JWT Signature."}
        jwt = form.get("assertion", [""])[0]
        parts = jwt.split(".")
        if len(parts) != 3:
            return 400, {"error": "invalid_grant",
                         "error_description": "malformed assertion"}
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            sig = b64url_decode(parts[2])
            self.pubkey.verify(sig, (parts[0] + "." + parts[1]).encode(),
                               padding.PKCS1v15(), hashes.SHA256())
        except (ValueError, InvalidSignature) as e:
            return 400, {"error": "invalid_grant",
                         "error_description": "Invalid JWT Signature: %r"
                         % e}
        now = time.time()
        problems = []
        if header.get("alg") != "RS256" or header.get("typ") != "JWT":
            problems.append("header %r" % header)
        if claims.get("iss") != self.email:
            problems.append("iss")
        if claims.get("scope") != SCOPE:
            problems.append("scope")
        if claims.get("aud") != self.token_uri:
            problems.append("aud")
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int):
            problems.append("iat/exp not integers")
        elif exp - iat != 3600 or iat > now + 60 or exp < now:
            problems.append("iat/exp out of range")
        if problems:
            return 400, {"error": "invalid_grant",
                         "error_description": ", ".join(problems)}
        return self.issue()

    def issue(self):
        self.n += 1
        tok = "ya29.mock-%d-%s" % (self.n, secrets.token_hex(8))
        self.tokens[tok] = time.time() + self.args.token_lifetime
        self.stats["token_ok"] += 1
        return 200, {"access_token": tok, "token_type": "Bearer",
                     "expires_in": self.args.token_lifetime}

    # messages:send
    def check_message(self, body):
        try:
            doc = json.loads(body)
        except ValueError:
            return "body is not JSON"
        msg = doc.get("message") if isinstance(doc, dict) else None
        if not isinstance(msg, dict):
            return "no message object"
        if set(doc) != {"message"}:
            return "unknown top-level fields %r" % sorted(doc)
        if not isinstance(msg.get("token"), str) or not msg["token"]:
            return "message.token missing"
        data = msg.get("data", {})
        if not isinstance(data, dict):
            return "message.data is not an object"
        for i, (k, v) in enumerate(data.items()):
            if not isinstance(v, str):
                return ("Invalid value at 'message.data[%d].value' "
                        "(TYPE_STRING), %r" % (i, v))
            if k in ("from", "gcm") or k.startswith("google"):
                return "Invalid data key %r" % k
        if sum(len(k.encode()) + len(v.encode())
               for k, v in data.items()) > DATA_MAX:
            return "Message is too big"
        android = msg.get("android", {})
        if not isinstance(android, dict):
            return "message.android is not an object"
        if android.get("priority", "NORMAL") not in ("HIGH", "NORMAL"):
            return "android.priority %r" % android.get("priority")
        if "ttl" in android and not re.fullmatch(r"\d+(\.\d{1,9})?s",
                                                 str(android["ttl"])):
            return "android.ttl %r" % android["ttl"]
        return None

    async def send(self, path, headers, body):
        self.stats["send"] += 1
        m = re.fullmatch(r"/v1/projects/([^/]+)/messages:send", path)
        if not m or m.group(1) != self.project:
            return 404, fcm_error(404, "NOT_FOUND", "no such project"), {}
        auth = headers.get("authorization", "")
        tok = auth[7:] if auth.startswith("Bearer ") else None
        if tok is None or self.tokens.get(tok, 0) < time.time():
            self.stats["unauthorized"] += 1
            return 401, fcm_error(
                401, "UNAUTHENTICATED", "Request had invalid "
                "authentication credentials. Expected OAuth 2 access "
                "token."), {}
        if headers.get("content-type", "").split(";")[0] != \
                "application/json":
            return 400, fcm_error(400, "INVALID_ARGUMENT",
                                  "content-type"), {}
        problem = self.check_message(body)
        if problem:
            code = "INVALID_ARGUMENT" if problem == "Message is too big" \
                else None
            return 400, fcm_error(400, "INVALID_ARGUMENT", problem, code, [
                {"@type": BAD_REQUEST, "fieldViolations": [
                    {"field": "message", "description": problem}]}]), {}
        token = json.loads(body)["message"]["token"]
        if token.startswith("unregistered"):
            return 404, fcm_error(404, "NOT_FOUND", "Requested entity was "
                                  "not found.", "UNREGISTERED"), {}
        if token.startswith("invalid"):
            return 400, fcm_error(400, "INVALID_ARGUMENT", "The "
                                  "registration token is not a valid FCM "
                                  "registration token",
                                  "INVALID_ARGUMENT"), {}
        if token.startswith("badarg"):
            return 400, fcm_error(400, "INVALID_ARGUMENT", "Message is too "
                                  "big", "INVALID_ARGUMENT"), {}
        if token.startswith("quotadate"):
            when = email.utils.formatdate(time.time() + 7, usegmt=True)
            return 429, fcm_error(429, "RESOURCE_EXHAUSTED", "Quota "
                                  "exceeded.", "QUOTA_EXCEEDED"), \
                {"retry-after": when}
        if token.startswith("quota"):
            return 429, fcm_error(429, "RESOURCE_EXHAUSTED", "Quota "
                                  "exceeded.", "QUOTA_EXCEEDED"), \
                {"retry-after": "7"}
        if token.startswith("unavailable"):
            return 503, fcm_error(503, "UNAVAILABLE", "The service is "
                                  "currently unavailable.",
                                  "UNAVAILABLE"), {}
        if token.startswith("internal"):
            return 500, fcm_error(500, "INTERNAL", "Internal error "
                                  "encountered.", "INTERNAL"), {}
        if token.startswith("unspecified"):
            return 500, fcm_error(500, "UNKNOWN", "Unknown error.",
                                  "UNSPECIFIED_ERROR"), {}
        if token.startswith("notfound"):
            return 404, fcm_error(404, "NOT_FOUND", "Requested entity was "
                                  "not found."), {}
        if token.startswith("sendermismatch"):
            return 403, fcm_error(403, "PERMISSION_DENIED", "SenderId "
                                  "mismatch", "SENDER_ID_MISMATCH"), {}
        if token.startswith("thirdparty"):
            return 401, fcm_error(401, "UNAUTHENTICATED", "Auth error "
                                  "from APNS or Web Push Service",
                                  "THIRD_PARTY_AUTH_ERROR"), {}
        if token.startswith("forbidden"):
            return 403, fcm_error(403, "PERMISSION_DENIED", "Permission "
                                  "'cloudmessaging.messages.create' "
                                  "denied"), {}
        if token.startswith("slow"):
            await asyncio.sleep(self.args.slow)
        if token.startswith("stall"):
            await asyncio.sleep(STALL_S)
        self.stats["send_ok"] += 1
        self.n += 1
        return 200, {"name": "projects/%s/messages/0:%d" %
                     (self.project, self.n)}, {}

    async def route(self, method, path, headers, body):
        if path == "/control/stats" and method == "GET":
            return 200, dict(self.stats, tokens=len(self.tokens)), {}
        if path.startswith("/control/") and method == "POST":
            what = path[9:]
            if what == "token":
                status, doc = self.issue()
                return status, doc, {}
            if what == "revoke":
                self.tokens.clear()
            elif what == "reject-auth":
                self.reject_auth = True
            elif what == "accept-auth":
                self.reject_auth = False
            elif what == "reset":
                for k in self.stats:
                    if k not in ("open",):
                        self.stats[k] = 0
            else:
                return 404, {"error": "no such control"}, {}
            return 200, {}, {}
        if method != "POST":
            return 405, {"error": "POST only"}, {}
        if path == urllib.parse.urlparse(self.token_uri).path:
            status, doc = self.token(body)
            return status, doc, {}
        return await self.send(path, headers, body)


class Conn:
    def __init__(self, mock, reader, writer):
        self.mock = mock
        self.reader = reader
        self.writer = writer
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=False, header_encoding="utf-8"))
        self.streams = {}
        self.counted = False

    def flush(self):
        data = self.h2.data_to_send()
        if data and not self.writer.is_closing():
            self.writer.write(data)

    async def run(self):
        mock = self.mock
        mock.stats["open"] += 1
        self.h2.initiate_connection()
        self.flush()
        try:
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
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            mock.stats["open"] -= 1
            self.writer.close()

    def event(self, ev):
        if isinstance(ev, h2.events.RequestReceived):
            self.streams[ev.stream_id] = (dict(ev.headers), bytearray())
            # Connections that carry FCM traffic, not the test's controls.
            if not self.counted and not dict(ev.headers).get(
                    ":path", "").startswith("/control/"):
                self.counted = True
                self.mock.stats["connections"] += 1
            active = len(self.streams)
            if active > self.mock.stats["max_streams"]:
                self.mock.stats["max_streams"] = active
        elif isinstance(ev, h2.events.DataReceived):
            if ev.stream_id in self.streams:
                self.streams[ev.stream_id][1].extend(ev.data)
            self.h2.acknowledge_received_data(ev.flow_controlled_length,
                                              ev.stream_id)
        elif isinstance(ev, h2.events.StreamEnded):
            if ev.stream_id in self.streams:
                asyncio.ensure_future(self.answer(ev.stream_id))
        elif isinstance(ev, h2.events.StreamReset):
            self.streams.pop(ev.stream_id, None)

    async def answer(self, sid):
        headers, body = self.streams[sid]
        method, path = headers.get(":method"), headers.get(":path")
        try:
            status, doc, extra = await self.mock.route(method, path, headers,
                                                       bytes(body))
        except Exception as e:  # a mock bug must not hang the client
            status, doc, extra = 500, {"error": "mock: %r" % e}, {}
        if not path.startswith("/control/"):
            try:
                req = json.loads(body)
            except ValueError:
                req = body.decode(errors="replace")
            self.mock.log({"method": method, "path": path,
                           "headers": {k: v for k, v in headers.items()
                                       if not k.startswith(":")},
                           "body": req, "status": status,
                           "time": time.time()})
        if self.streams.pop(sid, None) is None or self.writer.is_closing():
            return
        out = json.dumps(doc).encode()
        hdrs = [(":status", str(status)),
                ("content-type", "application/json; charset=UTF-8"),
                ("content-length", str(len(out)))]
        hdrs += list(extra.items())
        try:
            self.h2.send_headers(sid, hdrs)
            self.h2.send_data(sid, out, end_stream=True)
        except h2.exceptions.H2Error:
            return
        self.flush()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--service-account", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--record")
    ap.add_argument("--token-lifetime", type=int, default=3600)
    ap.add_argument("--slow", type=float, default=2.0)
    args = ap.parse_args()
    mock = Mock(args)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    ctx.set_alpn_protocols(["h2"])

    async def handle(reader, writer):
        sslobj = writer.get_extra_info("ssl_object")
        if sslobj is None or sslobj.selected_alpn_protocol() != "h2":
            writer.close()      # HTTP/2 only, as FCM's clients use it
            return
        await Conn(mock, reader, writer).run()

    server = await asyncio.start_server(handle, "127.0.0.1", args.port,
                                        ssl=ctx, reuse_address=True)
    port = server.sockets[0].getsockname()[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.rename(args.port_file + ".tmp", args.port_file)
    print("fcm_mock: listening on 127.0.0.1:%d" % port, file=sys.stderr)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
