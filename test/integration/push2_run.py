#!/usr/bin/python3
"""The Push 2.0 relay (urn:xmpp:push2:0, core/push2.c) end to end.

A scripted user's server (test/lib/fakexmpp.py) sends xpushd the
notifications that prosody-modules' mod_push2.lua builds:
handle_notify_request() makes the <message/> with <client>, <priority>
("high" for a call, "normal" for an important stanza, "low" otherwise) and
<voip/> for a Jingle propose; add_sce_rfc8291() wraps the stanza in a
XEP-0420 envelope with rpad, encrypts it for the client (RFC 8291: ECDH
with the client's ua-public, HKDF with its auth-secret, aes128gcm with
rs 4096 and the 0x02 delimiter) and puts it base64 in <encrypted><payload>;
add_rfc8292() signs an ES256 JWT over the client's claims plus sub and
exp and puts it in <jwt key='base64 raw public key'>.  The test plays the
client too: it holds the keys, so it decrypts what reaches the real APNs
mock (test/mock/apns_mock) and FCM mock (test/mock/fcm_mock.py) through
apns.so and fcm.so; a Web Push client's subscription comes from the Web
Push mock (test/mock/webpush_mock.py), which verifies the VAPID header and
decrypts what webpush.so POSTs.  Each failure comes back as the message
error the draft's "Transient delivery errors" asks for.  TAP output."""
import base64
import json
import os
import shutil
import sys
import subprocess
import ssl
import tempfile
import time
import traceback
import urllib.request
import uuid

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from xptest import (Tap, top_builddir, top_srcdir, MIGRATIONS, SECRET, CMD, XD, DEADLINE,
                    db_uri, finish_daemon, free_port, wait_until)
from fakexmpp import FakeServer, Daemon, error_of, spawn_daemon

t = Tap()
DB = db_uri()
COMPONENT = "push.localhost"
SERVER = "localhost"            # mod_push2 sends from module.host
TOPIC = "com.example.app"
NS = "urn:xmpp:push2:0"
MAX_DATA = 2847                 # add_sce_rfc8291's max_data_size
RS = 4096                       # the record size add_sce_rfc8291 writes
# mod_push2's contact_uri (the JWT's sub).  Its default, "xmpp:" .. host,
# is refused by push services that hold to RFC 8292 section 2 (mailto: or
# https:), as the mock does: a deployment sets it.
CONTACT_URI = "mailto:admin@localhost"


# --- the client's side (Snikket SDK / borogove Push2Enable) and RFC 8291

def raw_public(key):
    return key.public_key().public_bytes(serialization.Encoding.X962,
                                         serialization.PublicFormat.UncompressedPoint)


class Client:
    """A Push 2.0 client: the keys it gives its server in <enable/>
    (ua-public, auth-secret, jwt-key) and the endpoint (<client/>)."""

    def __init__(self, endpoint, subscription=None):
        self.endpoint = endpoint
        self.vapid = ec.generate_private_key(ec.SECP256R1())
        self.contact_uri = CONTACT_URI
        if subscription is None:
            self.ua = ec.generate_private_key(ec.SECP256R1())
            self.ua_public = raw_public(self.ua)
            self.auth = os.urandom(16)
        else:
            # A browser's PushSubscription: the push service (the mock)
            # holds the private key and decrypts.
            self.endpoint = subscription["endpoint"]
            self.ua = None
            self.ua_public = b64url_decode(subscription["keys"]["p256dh"])
            self.auth = b64url_decode(subscription["keys"]["auth"])

    def decrypt(self, body):
        """RFC 8291 section 3.4 / RFC 8188 section 2, the receiving side;
        None when body is no aes128gcm message for this client."""
        if len(body) < 21 or len(body) < 21 + body[20] + 17:
            return None
        salt, rs, idlen = body[:16], int.from_bytes(body[16:20], "big"), body[20]
        as_public = body[21:21 + idlen]
        ct = body[21 + idlen:]
        shared = self.ua.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), as_public))
        ikm = hkdf(32, shared, self.auth, b"WebPush: info\0" + raw_public(self.ua) + as_public)
        key = hkdf(16, ikm, salt, b"Content-Encoding: aes128gcm\0")
        nonce = hkdf(12, ikm, salt, b"Content-Encoding: nonce\0")
        plain = AESGCM(key).decrypt(nonce, ct, None).rstrip(b"\0")
        if rs != RS or not plain.endswith(b"\x02"):
            return None
        return plain[:-1]


def hkdf(length, ikm, salt, info):
    """util.hashes.hkdf_hmac_sha256(length, ikm, salt, info)."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def envelope(stanza):
    """add_sce_rfc8291: the stanza in XEP-0297 forwarded in a XEP-0420
    envelope, padded with rpad up to a third of max_data_size (at most
    150 random bytes, base64)."""
    inner = ("<envelope xmlns='urn:xmpp:sce:1'><content><forwarded xmlns='urn:xmpp:forward:0'>"
             "%s</forwarded></content>" % stanza)
    pad = min(150, MAX_DATA // 3 - len(inner) - len("</envelope>"))
    if pad > 0:
        inner += "<rpad>%s</rpad>" % base64.b64encode(os.urandom(pad)).decode()
    return (inner + "</envelope>").encode()


def encrypt(client, plain):
    """add_sce_rfc8291's encryption: a one-time key, the header
    salt | rs=4096 | idlen | key, one record ending with 0x02."""
    one_time = ec.generate_private_key(ec.SECP256R1())
    otp = raw_public(one_time)
    ua_raw = client.ua_public
    salt = os.urandom(16)
    shared = one_time.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(), ua_raw))
    ikm = hkdf(32, shared, client.auth, b"WebPush: info\0" + ua_raw + otp)
    key = hkdf(16, ikm, salt, b"Content-Encoding: aes128gcm\0")
    nonce = hkdf(12, ikm, salt, b"Content-Encoding: nonce\0")
    header = salt + b"\0\0\x10\0" + bytes([len(otp)]) + otp
    return header + AESGCM(key).encrypt(nonce, plain + b"\x02", None)


def jwt(client):
    """add_rfc8292: ES256 over the client's claims (borogove sends aud,
    the endpoint's origin) plus sub = contact_uri; util.jwt adds exp."""
    origin = "/".join(client.endpoint.split("/")[:3])
    head = b64url(json.dumps({"alg": "ES256", "typ": "JWT"}).encode())
    body = b64url(json.dumps({"aud": origin, "sub": client.contact_uri,
                              "exp": int(time.time()) + 3600}).encode())
    der = client.vapid.sign(("%s.%s" % (head, body)).encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return "%s.%s.%s" % (head, body, b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big")))


def offline_message(body="Hello from Romeo"):
    return ("<message xmlns='jabber:client' from='romeo@montague.lit/orchard' "
            "to='juliet@localhost' type='chat' id='%s'><body>%s</body></message>"
            % (uuid.uuid4(), body))


def notification(client, priority="normal", voip=False, payload=None, with_jwt=True,
                 msg_id=None, client_text=None):
    """handle_notify_request's <message/>; payload None: encrypt a fresh
    envelope, False: notify-only (no <encrypted/>)."""
    plain = None
    if payload is None:
        plain = envelope(offline_message())
        payload = base64.b64encode(encrypt(client, plain)).decode()
    inner = "<client>%s</client><priority>%s</priority>" % (
        client_text if client_text is not None else client.endpoint.replace("&", "&amp;"), priority)
    if voip:
        inner += "<voip/>"
    if payload is not False:
        inner += ("<encrypted xmlns='urn:xmpp:sce:rfc8291:0'><payload>%s</payload></encrypted>"
                  % payload)
        if with_jwt:
            inner += "<jwt key='%s'>%s</jwt>" % (
                base64.b64encode(raw_public(client.vapid)).decode(), jwt(client))
    msg_id = msg_id or str(uuid.uuid4())
    return msg_id, plain, ("<message to='%s' from='%s' id='%s'><notification xmlns='%s'>%s"
                           "</notification></message>" % (COMPONENT, SERVER, msg_id, NS, inner))


# --- the world: mocks, modules, daemon

class World:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="xpushd-push2-")
        self.procs = []
        self.logs = []

    def start_mocks(self):
        d = self.dir
        subprocess.run(["sh", os.path.join(top_srcdir, "test/lib/apns_certs.sh"), d + "/apns"],
                       check=True, capture_output=True)
        subprocess.run(["openssl", "genrsa", "-out", d + "/sa.key", "2048"], check=True,
                       capture_output=True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", d + "/fcm-tls.key",
                        "-out", d + "/fcm-tls.crt", "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
        self.fcm_port = free_port()
        with open(d + "/sa.key") as f:
            key = f.read()
        with open(d + "/service-account.json", "w") as f:
            json.dump({"type": "service_account", "project_id": "xpushd-test",
                       "private_key_id": "k1", "private_key": key,
                       "client_email": "xpushd@xpushd-test.iam.gserviceaccount.com",
                       "token_uri": "https://127.0.0.1:%d/token" % self.fcm_port}, f)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", d + "/wp-tls.key",
                        "-out", d + "/wp-tls.crt", "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
        subprocess.run([os.path.join(top_builddir, "xpushd-vapid"), "-g", d + "/vapid.pem"],
                       check=True, capture_output=True)
        self.wp_record = d + "/webpush.jsonl"
        self.spawn(["/usr/bin/python3", os.path.join(top_srcdir, "test/mock/webpush_mock.py"),
                    "--cert", d + "/wp-tls.crt", "--key", d + "/wp-tls.key",
                    "--port-file", d + "/webpush.port", "--record", self.wp_record],
                   "webpush_mock.log")
        self.apns_record = d + "/apns.jsonl"
        self.fcm_record = d + "/fcm.jsonl"
        self.spawn([os.path.join(top_builddir, "test/mock/apns_mock"),
                    "--cert", d + "/apns/server.pem", "--key", d + "/apns/server.key",
                    "--client-ca", d + "/apns/ca.pem", "--topic", TOPIC,
                    "--port-file", d + "/apns.port", "--record", self.apns_record, "--quiet"],
                   "apns_mock.log")
        self.spawn(["/usr/bin/python3", os.path.join(top_srcdir, "test/mock/fcm_mock.py"),
                    "--cert", d + "/fcm-tls.crt", "--key", d + "/fcm-tls.key",
                    "--service-account", d + "/service-account.json",
                    "--port", str(self.fcm_port), "--port-file", d + "/fcm.port",
                    "--record", self.fcm_record], "fcm_mock.log")
        ok = wait_until(lambda: all(os.path.exists(d + "/%s.port" % m) and
                                    os.path.getsize(d + "/%s.port" % m) > 0
                                    for m in ("apns", "fcm", "webpush")))
        if ok:
            with open(d + "/apns.port") as f:
                self.apns_port = int(f.read())
            with open(d + "/webpush.port") as f:
                self.wp_port = int(f.read())
        return ok

    def subscribe(self, **how):
        """A subscription of the Web Push mock, as a browser gets it
        (PushSubscription.toJSON()); how: fail, retry_after."""
        ctx = ssl.create_default_context(cafile=os.path.join(self.dir, "wp-tls.crt"))
        req = urllib.request.Request("https://127.0.0.1:%d/subscribe" % self.wp_port,
                                     data=json.dumps(how).encode(), method="POST")
        with urllib.request.urlopen(req, context=ctx, timeout=DEADLINE) as r:
            return json.loads(r.read())

    def spawn(self, argv, logname):
        log = open(os.path.join(self.dir, logname), "w")
        self.logs.append(log)
        self.procs.append(spawn_daemon(argv, log))

    def module_dir(self):
        """xpushd loads modules from one directory: here the real apns.so,
        fcm.so and webpush.so of the build."""
        m = os.path.join(self.dir, "modules")
        os.makedirs(m, exist_ok=True)
        for src in ("plugins/.libs/apns.so", "plugins/.libs/fcm.so",
                    "plugins/.libs/webpush.so"):
            os.symlink(os.path.abspath(os.path.join(top_builddir, src)),
                       os.path.join(m, os.path.basename(src)))
        return m

    def stop(self):
        for p in self.procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        for log in self.logs:
            log.close()
        if not t.failed:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            t.diag("mock logs kept in %s" % self.dir)


def conf(w, port, push2=True):
    d = w.dir
    p2 = """
push2 () {
    web = 'web'
    apns = [ 'apns-binary-api' ]
    fcm = 'fcm-http-v1'
    servers = [ '%s' ]
    'max-in-flight' = 50
}""" % SERVER if push2 else ""
    return """
admins = [ 'admin@localhost' ]
'module-path' = '%s'
'publish-deadline' = 5000
'low-priority-window' = 2
xmpp () { jid = '%s'; port = %d; secret = '%s' }
database () { uri = '%s'; migrations = '%s' }
push () {
    'apns-binary-api' () {
        endpoint = '127.0.0.1:%d'
        'ca-file' = '%s/apns/ca.pem'
        'cert-file' = '%s/apns/client.p12'
        'cert-password' = 'secret'
        'apns-topic' = '%s'
    }
    'fcm-http-v1' () {
        'service-account-file' = '%s/service-account.json'
        endpoint = 'https://127.0.0.1:%d'
        'ca-file' = '%s/fcm-tls.crt'
    }
    web () {
        plugin = 'webpush'
        'vapid-key-file' = '%s/vapid.pem'
        'vapid-subject' = 'mailto:admin@localhost'
        'ca-file' = '%s/wp-tls.crt'
    }
}
%s
""" % (w.module_dir() if not os.path.isdir(os.path.join(d, "modules")) else os.path.join(d, "modules"),
       COMPONENT, port, SECRET, DB, MIGRATIONS, w.apns_port, d, d, TOPIC, d, w.fcm_port, d,
       d, d, p2)


class Record:
    """Lines a mock appended, each taken once: next() the first one not
    taken yet (that `match` accepts, if given), waiting for it."""

    def __init__(self, path):
        self.path = path
        self.taken = set()

    def next(self, match=None, timeout=DEADLINE):
        def first():
            if not os.path.exists(self.path):
                return None
            with open(self.path) as f:
                lines = f.read().splitlines()
            for i, line in enumerate(lines):
                if i in self.taken:
                    continue
                r = json.loads(line)
                if match is None or match(r):
                    self.taken.add(i)
                    return r
            return None
        return wait_until(first, timeout)


def statistics(s):
    """get-statistics (admin): {var: value}."""
    r = s.iq("<command xmlns='%s' node='get-statistics' action='execute'/>" % CMD,
             frm="admin@localhost/x")
    cmd = r.find("{%s}command" % CMD) if r is not None else None
    if cmd is None:
        return {}
    r = s.iq("<command xmlns='%s' node='get-statistics' sessionid='%s'>"
             "<x xmlns='%s' type='submit'/></command>" % (CMD, cmd.get("sessionid"), XD),
             frm="admin@localhost/x")
    out = {}
    x = r.find("{%s}command/{%s}x" % (CMD, XD)) if r is not None else None
    for f in (x.findall("{%s}field" % XD) if x is not None else []):
        v = f.find("{%s}value" % XD)
        out[f.get("var")] = v.text if v is not None else None
    return out


def answered(s, provider, outcome, count):
    """True once the provider has given `count` answers of `outcome`
    (get-statistics), and a ping round trip has passed after that: any
    message error xpushd wrote for them is then in s.stanzas."""
    ok = wait_until(lambda: int(statistics(s).get("%s-%s" % (provider, outcome)) or 0) >= count)
    return bool(ok) and s.ping()


def message_error(s, msg_id, timeout=DEADLINE):
    m = s.wait_id(msg_id, timeout)
    if m is None or m.tag != "{jabber:component:accept}message":
        return None
    return error_of(m)


def no_answer(s, msg_id):
    return not any(x.get("id") == msg_id for x in s.stanzas)


def sizes(t, s, c, rec, match, ciphertext, limit):
    """mod_push2's largest envelope (max_data_size) reaches the app whole;
    3,000 bytes, within the relay's 4,096 but too large base64 for the
    provider's limit, are refused whole (never cut)."""
    big = os.urandom(MAX_DATA)
    mid, _, stanza = notification(c, payload=base64.b64encode(encrypt(c, big)).decode())
    s.send(stanza)
    r = rec.next(match)
    got = c.decrypt(base64.b64decode(ciphertext(r))) if r else None
    t.ok(got == big, "mod_push2's largest payload (%d bytes of envelope) fits %s whole"
         % (MAX_DATA, limit))
    mid, _, stanza = notification(c, payload=base64.b64encode(
        encrypt(c, os.urandom(3000))).decode())
    s.send(stanza)
    e = message_error(s, mid)
    t.ok(e is not None and e[:2] == ("modify", "not-acceptable") and "does not fit" in (e[2] or ""),
         "a ciphertext too large for %s is refused whole: %s" % (limit, e))


def apns_relays(t, s, w):
    rec = Record(w.apns_record)
    token = "ab" * 32
    voip_token = "cd" * 32
    c = Client("https://api.push.apple.com/%s#%s&%s" % (token, TOPIC, voip_token))

    mid, plain, stanza = notification(c, "normal")
    s.send(stanza)
    r = rec.next()
    t.ok(r is not None and r["path"] == "/3/device/" + token,
         "APNs client: the push goes to the token in the client URL's path")
    h = r["headers"] if r else {}
    t.ok(h.get("apns-topic") == TOPIC and h.get("apns-push-type") == "alert" and
         h.get("apns-priority") == "10", "an alert on the topic from the fragment, priority 10: %s" % h)
    body = json.loads(r["body"]) if r else {}
    t.is_(body.get("aps"), {"alert": {"title": "New Message"}, "mutable-content": 1},
          "the aps dictionary the Push 2.0 APNs relay writes: an alert for the app's extension")
    t.ok(set(body) == {"aps", "rfc8291"}, "nothing of the message leaves in clear: %s" % sorted(body))
    got = c.decrypt(base64.b64decode(body.get("rfc8291", ""))) if body else None
    t.ok(got is not None and got == plain,
         "the client decrypts rfc8291 to the envelope mod_push2 encrypted")
    t.ok(answered(s, "apns-binary-api", "sent", 1) and no_answer(s, mid),
         "a relayed notification gets no answer")

    mid, plain, stanza = notification(c, "high", voip=True)
    s.send(stanza)
    r = rec.next()
    h = r["headers"] if r else {}
    t.ok(r is not None and r["path"] == "/3/device/" + voip_token and
         h.get("apns-push-type") == "voip" and h.get("apns-topic") == TOPIC + ".voip",
         "<voip/>: a PushKit push to the VoIP token from the fragment, on the .voip topic")
    body = json.loads(r["body"]) if r else {}
    t.ok("aps" not in body and c.decrypt(base64.b64decode(body.get("rfc8291", ""))) == plain,
         "the VoIP payload is the ciphertext alone, and it decrypts")

    mid, plain, stanza = notification(c, "low")
    s.send(stanza)
    r = rec.next()
    h = r["headers"] if r else {}
    body = json.loads(r["body"]) if r else {}
    t.ok(h.get("apns-push-type") == "background" and h.get("apns-priority") == "5" and
         body.get("aps") == {"content-available": 1} and
         c.decrypt(base64.b64decode(body.get("rfc8291", ""))) == plain,
         "priority low: a background push that still carries the ciphertext")

    sandbox = Client("https://api.development.push.apple.com/%s#%s" % ("ef" * 32, TOPIC))
    mid, plain, stanza = notification(sandbox, "normal", with_jwt=False)
    s.send(stanza)
    r = rec.next()
    t.ok(r is not None and r["path"] == "/3/device/" + "ef" * 32,
         "the sandbox host and a client without VoIP token or JWT are served too")

    mid, _, stanza = notification(c, "normal", payload=False)
    s.send(stanza)
    r = rec.next()
    body = json.loads(r["body"]) if r else {}
    t.ok(r is not None and "rfc8291" not in body and "aps" in body and "account" not in body,
         "notify-only (no <encrypted/>): an ordinary wake-up that names no account")

    # Failures, as the APNs mock answers by token prefix.
    cases = [("dead", ("cancel", "item-not-found"), "410 Unregistered: the subscription is gone"),
             ("4290", ("wait", "resource-constraint"), "429: rate limited, retry later"),
             ("4130", ("modify", "not-acceptable"), "413: this notification cannot be taken")]
    for prefix, want, what in cases:
        dc = Client("https://api.push.apple.com/%s#%s" % (prefix + "0" * 60, TOPIC))
        mid, _, stanza = notification(dc)
        s.send(stanza)
        e = message_error(s, mid)
        t.is_(e[:2] if e else None, want, "APNs %s -> %s" % (what, want))
    t.ok(e is not None and e[2], "with a text for the operator: %s" % (e[2] if e else None))
    # The largest envelope add_sce_rfc8291 makes (max_data_size) fits.
    sizes(t, s, c, rec, lambda r: r["path"] == "/3/device/" + token,
          lambda r: json.loads(r["body"]).get("rfc8291", ""), "APNs' 4,096-byte payload")

    # The throttle of publishes, per client (low-priority-window 2 s).  No
    # sleep: the trailing push comes after the window and rec.next() waits.
    tc = Client("https://api.push.apple.com/%s#%s" % ("a1" * 32, TOPIC))
    sent = []
    for i in range(3):
        mid, plain, stanza = notification(tc, "low")
        sent.append((mid, plain))
        s.send(stanza)
    to_tc = lambda r: r["path"] == "/3/device/" + "a1" * 32  # noqa: E731
    r = rec.next(to_tc)
    body = json.loads(r["body"]) if r else {}
    t.ok(tc.decrypt(base64.b64decode(body.get("rfc8291", ""))) == sent[0][1],
         "throttle: the first low-priority notification of a client goes at once")
    r = rec.next(to_tc)
    body = json.loads(r["body"]) if r else {}
    t.ok(tc.decrypt(base64.b64decode(body.get("rfc8291", ""))) == sent[2][1],
         "the next push is the trailing one after the window: the latest notification")
    t.ok(s.ping() and all(no_answer(s, m) for m, _ in sent), "none of them is answered")


def fcm_relays(t, s, w):
    rec = Record(w.fcm_record)
    c = Client("https://fcm.googleapis.com/fcm-token-1")
    mid, plain, stanza = notification(c, "normal")
    s.send(stanza)
    r = rec.next(lambda r: r["path"].endswith("messages:send"))
    msg = r["body"]["message"] if r else {}
    t.is_(msg.get("token"), "fcm-token-1", "FCM client: the token is the URL's last segment")
    t.is_(sorted(msg.get("data", {})), ["rfc8291"], "message.data holds the ciphertext alone")
    t.is_(msg.get("android", {}).get("priority"), "HIGH", "priority normal -> android HIGH")
    got = c.decrypt(base64.b64decode(msg.get("data", {}).get("rfc8291", ""))) if msg else None
    t.ok(got == plain, "the client decrypts it to the envelope")
    t.ok(answered(s, "fcm-http-v1", "sent", 1) and no_answer(s, mid), "no answer when it worked")

    sizes(t, s, c, rec, lambda r: r["path"].endswith("messages:send"),
          lambda r: r["body"]["message"]["data"].get("rfc8291", ""), "FCM's 4,096-byte data")

    cases = [("unregistered", ("cancel", "item-not-found"), "404 UNREGISTERED"),
             ("quota", ("wait", "resource-constraint"), "429 QUOTA_EXCEEDED"),
             ("unavailable", ("wait", "internal-server-error"), "503 UNAVAILABLE")]
    for prefix, want, what in cases:
        mid, _, stanza = notification(Client("https://fcm.googleapis.com/%s-1" % prefix))
        s.send(stanza)
        e = message_error(s, mid)
        t.is_(e[:2] if e else None, want, "FCM %s -> %s" % (what, want))


def web_relays(t, s, w):
    rec = Record(w.wp_record)
    c = Client(None, w.subscribe())
    mid, plain, stanza = notification(c, "normal")
    s.send(stanza)
    r = rec.next()
    t.ok(r is not None and r["path"] == "/push/" + c.endpoint.rsplit("/", 1)[1] and
         r.get("status") == 201, "a Web Push client: webpush.so POSTs to the endpoint, 201")
    t.is_(r.get("plaintext") if r else None, plain.decode(),
          "the push service decrypts it with the subscription's keys to the envelope")
    h = r["headers"] if r else {}
    t.ok(h.get("content-encoding") == "aes128gcm" and h.get("urgency") == "high" and
         h.get("ttl", "").isdigit(), "Content-Encoding aes128gcm, Urgency high, a TTL: %s" %
         {k: h.get(k) for k in ("content-encoding", "urgency", "ttl")})
    t.ok(r is not None and r.get("k") == b64url(raw_public(c.vapid)) and
         r.get("jwt", {}).get("sub") == CONTACT_URI,
         "the VAPID header carries the server's JWT and key (base64url), and they verify")
    t.ok(answered(s, "web", "sent", 1) and no_answer(s, mid), "no answer when it worked")

    mid, plain, stanza = notification(c, "low")
    s.send(stanza)
    r = rec.next()
    t.is_((r or {}).get("headers", {}).get("urgency"), "low", "priority low -> Urgency low")

    cases = [({"fail": 410}, ("cancel", "item-not-found"), "410: the subscription is gone"),
             ({"fail": 404}, ("cancel", "item-not-found"), "404: the subscription is gone"),
             ({"fail": 429, "retry_after": 30}, ("wait", "resource-constraint"), "429"),
             ({"fail": 503}, ("wait", "internal-server-error"), "503"),
             ({"fail": 413}, ("modify", "not-acceptable"), "413")]
    for how, want, what in cases:
        mid, _, stanza = notification(Client(None, w.subscribe(**how)))
        s.send(stanza)
        e = message_error(s, mid)
        t.is_(e[:2] if e else None, want, "push service %s -> %s" % (what, want))
    bad = Client(None, w.subscribe())
    bad.contact_uri = "xmpp:" + SERVER
    mid, _, stanza = notification(bad)
    s.send(stanza)
    e = message_error(s, mid)
    t.is_(e[:2] if e else None, ("auth", "not-authorized"),
          "the push service refuses the server's JWT (mod_push2's default xmpp: sub) -> "
          "auth/not-authorized, not a wait")
    mid, _, stanza = notification(Client(None, w.subscribe()), payload=False)
    s.send(stanza)
    e = message_error(s, mid)
    t.is_(e[:2] if e else None, ("cancel", "feature-not-implemented"),
          "notify-only to a Web Push client is refused")


def bad_input(t, s):
    c = Client("https://api.push.apple.com/%s#%s" % ("ab" * 32, TOPIC))
    good = base64.b64encode(encrypt(c, b"x")).decode()
    big = base64.b64encode(encrypt(c, os.urandom(4200))).decode()
    cases = [
        ({"client_text": ""}, ("modify", "bad-request"), "no client"),
        ({"client_text": "http://push.example.net/x"}, ("modify", "bad-request"), "not https"),
        ({"priority": "urgent"}, ("modify", "bad-request"), "an unknown priority"),
        ({"payload": "not base64!"}, ("modify", "bad-request"), "a payload that is not base64"),
        ({"payload": base64.b64encode(b"short").decode()}, ("modify", "bad-request"),
         "a payload too short for aes128gcm"),
        ({"payload": big}, ("modify", "policy-violation"), "a payload over 4096 bytes"),
        ({"client_text": "https://api.push.apple.com/%s#org.other.app" % ("ab" * 32)},
         ("cancel", "item-not-found"), "an APNs topic no block has"),
        ({"client_text": "https://api.push.apple.com/#%s" % TOPIC}, ("modify", "bad-request"),
         "an APNs URL without a token"),
    ]
    for kw, want, what in cases:
        prio = kw.pop("priority", "normal")
        mid, _, stanza = notification(c, prio, **kw)
        s.send(stanza)
        e = message_error(s, mid)
        t.is_(e[:2] if e else None, want, "%s -> %s" % (what, want))
    mid, _, stanza = notification(c, payload=good)
    stanza = stanza.replace("<jwt key='", "<jwt key='AAAA")
    s.send(stanza)
    e = message_error(s, mid)
    t.is_(e[:2] if e else None, ("modify", "bad-request"), "a JWT key that is no P-256 point")
    mid, _, stanza = notification(c)
    s.send(stanza.replace("from='%s'" % SERVER, "from='other.example'"))
    e = message_error(s, mid)
    t.is_(e[:2] if e else None, ("auth", "forbidden"),
          "a server that push2 servers does not name is refused")
    # A message error from the server is never answered.
    s.send("<message type='error' from='%s' to='%s' id='err1'><notification xmlns='%s'/>"
           "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
           "</error></message>" % (SERVER, COMPONENT, NS))
    t.ok(s.ping() and no_answer(s, "err1"), "a message error is never answered")


def reload(t, s, d, w):
    """SIGHUP: a push2 () block without fcm takes effect; one that names
    a block push () lacks is refused and the running one stays."""
    probe = Client("https://fcm.googleapis.com/unavailable-reload")

    def fcm_error():
        mid, _, stanza = notification(probe)
        s.send(stanza)
        return message_error(s, mid)

    e = fcm_error()
    t.is_(e[:2] if e else None, ("wait", "internal-server-error"),
          "before the reload the FCM client is relayed (the mock answers 503)")
    d.write_conf(conf(w, s.port).replace("    fcm = 'fcm-http-v1'\n", ""))
    d.hup()
    e = wait_until(lambda: (lambda x: x if x and x[:2] == ("cancel", "item-not-found")
                            else None)(fcm_error()))
    t.ok(e is not None, "after SIGHUP a push2 () block without fcm answers FCM clients "
         "cancel/item-not-found: %s" % (e,))
    d.write_conf(conf(w, s.port).replace("fcm = 'fcm-http-v1'", "fcm = 'nope'"))
    d.hup()
    t.ok(d.wait_log("reload refused.*push2: fcm = 'nope' names no active provider block"),
         "a reload that names a block push () lacks is refused with the reason")
    e = fcm_error()
    t.is_(e[:2] if e else None, ("cancel", "item-not-found"),
          "and the running configuration stays")


def main():
    w = World()
    try:
        if not w.start_mocks():
            t.ok(False, "the mocks start")
            return
        run(w)
    except Exception:
        t.ok(False, "the test body ran to its end")
        t.diag(traceback.format_exc())
    finally:
        w.stop()


def run(w):
    s = FakeServer(COMPONENT)
    d = Daemon("", top_builddir)
    d.write_conf(conf(w, s.port))
    m = d.migrate()
    t.ok(m.returncode == 0, "xpushd --migrate prepares the database")
    d.start()
    s.accept(SECRET)
    t.ok(s.ping(), "xpushd connects")

    apns_relays(t, s, w)
    fcm_relays(t, s, w)
    web_relays(t, s, w)
    bad_input(t, s)

    reload(t, s, d, w)

    st = statistics(s)
    t.is_(st.get("in-flight"), "0", "nothing is left in flight")
    t.ok(s.ping(), "xpushd still answers after all of it")
    finish_daemon(t, d)

    # Without a push2 () block the relay is off.
    s2 = FakeServer(COMPONENT)
    d2 = Daemon("", top_builddir, name="off")
    d2.write_conf(conf(w, s2.port, push2=False))
    d2.start()
    s2.accept(SECRET)
    t.ok(s2.ping(), "xpushd without push2 () connects")
    mid, _, stanza = notification(Client("https://fcm.googleapis.com/x"))
    s2.send(stanza)
    e = message_error(s2, mid)
    t.is_(e[:2] if e else None, ("cancel", "service-unavailable"),
          "without push2 () a notification gets cancel/service-unavailable")
    finish_daemon(t, d2)

    # A push2 () block that names a block push () lacks: xpushd refuses to start.
    d3 = Daemon("", top_builddir, name="bad")
    d3.write_conf(conf(w, free_port()).replace("fcm = 'fcm-http-v1'",
                                                           "fcm = 'nope'"))
    d3.start()
    rc = d3.proc.wait(DEADLINE)
    t.ok(rc != 0 and "push2: fcm = 'nope' names no active provider block" in d3.logtext(),
         "push2 () naming an unknown block stops the start with a clear error")
    d3.proc = None


main()
sys.exit(t.done())
