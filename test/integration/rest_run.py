#!/usr/bin/python3
"""The HTTPS endpoint (core/rest.c, core/rest_unregister.c, core/metrics.c)
with curl: Tigase's unregister-device handler, hostile bodies, the rate
limit, /metrics as Prometheus text that moves with pushes, /health
following PostgreSQL and the XMPP link.  Runs xpushd against the fake XMPP
server, a throwaway PostgreSQL (XPUSHD_TEST_DB_URI, see
test/integration/rest_test.sh;
named _run so that automake's .py.log rule does not shadow the .sh
wrapper) and testprov.so.  TAP."""
import json
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time

from xptest import (Tap, top_builddir, MODULE_PATH, MIGRATIONS, SECRET, db_uri,
                    free_port, finish_daemon, wait_until, DEADLINE, POLL)
from fakexmpp import FakeServer, Daemon, command

t = Tap()
DB = db_uri()
TOKEN = "metrics-secret-token"


def make_cert(d):
    key, crt = os.path.join(d, "rest.key"), os.path.join(d, "rest.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return crt, key


def conf(xport, rest, record, extra=""):
    return """
admins = [ 'admin@localhost' ]
'module-path' = '%s'
'low-priority-window' = 0
xmpp () { jid = 'push.localhost'; port = %d; secret = '%s'; 'reconnect-max' = 1 }
database () { uri = '%s'; migrations = '%s' }
push () {
    'apns-binary-api' () { plugin = 'testprov'; 'record-file' = '%s' }
    'other' () { plugin = 'testprov' }
}
rest () { %s }
%s
""" % (MODULE_PATH, xport, SECRET, DB, MIGRATIONS, record, rest, extra)


class Http:
    """curl against the endpoint: (status, headers, body)."""

    def __init__(self, base, cacert):
        self.base = base
        self.cacert = cacert

    def req(self, path, method="GET", body=None, headers=(), body_file=None, base=None):
        hdr = tempfile.NamedTemporaryFile(delete=False)
        hdr.close()
        cmd = ["curl", "-sS", "--max-time", "10", "-o", "-", "-D", hdr.name, "-X", method]
        if self.cacert:
            cmd += ["--cacert", self.cacert]
        for h in headers:
            cmd += ["-H", h]
        if body is not None:
            cmd += ["-H", "Content-Type: application/json", "--data-binary", body]
        if body_file is not None:
            cmd += ["-H", "Content-Type: application/json", "--data-binary", "@" + body_file]
        cmd.append((base or self.base) + path)
        r = subprocess.run(cmd, capture_output=True)
        with open(hdr.name, "rb") as f:
            raw = f.read().decode("latin-1")
        os.unlink(hdr.name)
        status = None
        heads = {}
        for line in raw.splitlines():
            m = re.match(r"HTTP/\S+ (\d+)", line)
            if m:
                status = int(m.group(1))
                heads = {}
            elif ":" in line:
                k, v = line.split(":", 1)
                heads[k.strip().lower()] = v.strip()
        return status, heads, r.stdout.decode("utf-8", "replace")

    def json(self, *a, **kw):
        st, h, body = self.req(*a, **kw)
        try:
            return st, json.loads(body)
        except ValueError:
            return st, {"unparsed": body}


def register(s, token, provider="apns-binary-api", frm="alice@localhost/phone"):
    return command(s, "register-device", {"provider": provider, "device-token": token}, frm=frm)


def publish(s, node, secret, body="hello"):
    form = ("<x xmlns='jabber:x:data' type='form'><field var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field>"
            "<field var='message-count'><value>1</value></field>"
            "<field var='last-message-body'><value>%s</value></field></x>" % body)
    po = ("<publish-options><x xmlns='jabber:x:data' type='submit'>"
          "<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
          "<field var='secret'><value>%s</value></field></x></publish-options>" % secret)
    return s.iq("<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='%s'><item>"
                "<notification xmlns='urn:xmpp:push:0'>%s</notification></item></publish>%s</pubsub>"
                % (node, form, po))


def db_count(token):
    r = subprocess.run(["psql", "-X", "-A", "-t", DB, "-c",
                        "select count(*) from devices where token = '%s'" % token],
                       capture_output=True, text=True)
    return r.stdout.strip()


# Prometheus text format 0.0.4, line by line.
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r"^(%s)(\{(?:%s)(?:,%s)*\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)( -?\d+)?$" % (NAME, LABEL, LABEL))
COMMENT = re.compile(r"^# (HELP %s .*|TYPE %s (counter|gauge|histogram|summary|untyped))$" % (NAME, NAME))


def prom_parse(text):
    """{(name, frozenset(labels)): value} and the lines that are not valid."""
    samples, bad, types = {}, [], {}
    if not text.endswith("\n"):
        bad.append("(no final newline)")
    for line in text.splitlines():
        if line.startswith("#"):
            m = COMMENT.match(line)
            if not m:
                bad.append(line)
            elif line.startswith("# TYPE"):
                parts = line.split()
                if parts[2] in types:
                    bad.append(line + " (TYPE twice)")
                types[parts[2]] = parts[3]
            continue
        m = SAMPLE.match(line)
        if not m:
            bad.append(line)
            continue
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        base = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
        if m.group(1) not in types and base not in types:
            bad.append(line + " (no TYPE)")
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples, bad


def metric(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def main():
    work = tempfile.mkdtemp(prefix="xpushd-rest-")
    crt, key = make_cert(work)
    port = free_port()
    s = FakeServer()
    d = Daemon("", top_builddir)
    rec = os.path.join(d.dir, "pushes.jsonl")
    rest = ("listen = '127.0.0.1:%d'; 'tls-cert' = '%s'; 'tls-key' = '%s'; "
            "'metrics-token' = '%s'; 'metrics-refresh' = 1; 'rate-burst' = 10000; 'rate-limit' = 600000"
            % (port, crt, key, TOKEN))

    # Configuration checks first (xpushd -t).
    for text, want, name in [
        ("listen = '0.0.0.0:%d'; tls = false" % port, "loopback",
         "plain HTTP on a public address is a configuration error"),
        ("listen = '127.0.0.1:%d'" % port, "tls-cert and tls-key are required",
         "HTTPS without tls-cert/tls-key is a configuration error"),
        ("listen = '127.0.0.1'", "host:port", "a listen address without a port is refused"),
    ]:
        d.write_conf(conf(s.port, text, rec))
        r = subprocess.run([d.binary, "-t", "-c", d.conf], capture_output=True, text=True)
        t.ok(r.returncode == 1 and want in r.stderr, name)
        if r.returncode != 1 or want not in r.stderr:
            t.diag(r.stderr)
    d.write_conf(conf(s.port, "listen = '[::1]:%d'; tls = false" % port, rec))
    r = subprocess.run([d.binary, "-t", "-c", d.conf], capture_output=True, text=True)
    t.ok(r.returncode == 0, "plain HTTP on loopback ([::1]) is accepted")

    d.write_conf(conf(s.port, rest, rec))
    m = d.migrate()
    t.ok(m.returncode == 0, "xpushd --migrate")
    d.start()
    s.accept(SECRET)
    h = Http("https://127.0.0.1:%d" % port, crt)
    t.ok(s.ping() and wait_until(lambda: h.req("/health")[0] is not None), "xpushd connects and listens")

    # --- unregister
    reg = register(s, "aa01")
    t.ok(reg.get("node"), "a device is registered over XMPP")
    st, js = h.json("/rest/push/unregister-device/push.localhost", "POST",
                    json.dumps({"account": "alice@localhost", "provider": "apns-binary-api",
                                "device-token": "aa01"}))
    t.is_((st, js), (200, {"result": "success"}), "POST /rest/push/unregister-device/{jid}: success")
    t.is_(db_count("aa01"), "0", "the registration is gone from the database")
    st, js = h.json("/rest/push/unregister-device/push.localhost", "POST",
                    json.dumps({"account": "alice@localhost", "provider": "apns-binary-api",
                                "device-token": "aa01"}))
    t.is_((st, js.get("result")), (200, "failure"), "the same again: 200 with result failure")
    register(s, "aa02", frm="Bob@LOCALHOST/x")
    st, js = h.json("/unregister-device/push.localhost", "POST",
                    json.dumps({"account": "bob@localhost", "provider": "apns-binary-api",
                                "device-token": "aa02"}))
    t.is_((st, js), (200, {"result": "success"}), "the short path /unregister-device/{jid} works too")
    register(s, "aa03")
    st, js = h.json("/unregister-device/push.localhost", "POST",
                    json.dumps({"account": "mallory@localhost", "provider": "apns-binary-api",
                                "device-token": "aa03"}))
    t.is_((st, js.get("result")), (200, "failure"), "another account's token is not removed")
    t.is_(db_count("aa03"), "1", "the row of alice's device is still there")
    st, js = h.json("/unregister-device/push.example.org", "POST",
                    json.dumps({"account": "alice@localhost", "provider": "apns-binary-api",
                                "device-token": "aa03"}))
    t.is_(st, 404, "another component's JID: 404")
    st, js = h.json("/unregister-device/push.localhost", "GET")
    t.is_(st, 405, "GET on the unregister path: 405")

    hostile = [
        ("{not json", "invalid JSON"),
        ('{"account": "alice@localhost", "provider": "apns-binary-api"', "truncated JSON"),
        ('{"account": "alice@localhost", "provider": "apns-binary-api", "device-token": "aa03"} x', "trailing garbage"),
        ('[1, 2, 3]', "an array instead of an object"),
        ('"alice"', "a bare string"),
        (json.dumps({"account": 5, "provider": "apns-binary-api", "device-token": "aa03"}), "account of the wrong type"),
        (json.dumps({"account": "alice@localhost", "provider": ["x"], "device-token": "aa03"}), "provider of the wrong type"),
        (json.dumps({"account": "alice@localhost", "provider": "apns-binary-api", "device-token": None}), "null token"),
        (json.dumps({"account": "alice@localhost", "provider": "apns-binary-api"}), "missing device-token"),
        (json.dumps({"provider": "apns-binary-api", "device-token": "aa03"}), "missing account"),
        (json.dumps({"account": "alice@localhost/res", "provider": "apns-binary-api", "device-token": "aa03"}), "a full JID"),
        (json.dumps({"account": "localhost", "provider": "apns-binary-api", "device-token": "aa03"}), "a domain JID"),
        (json.dumps({"account": "a@b@c", "provider": "apns-binary-api", "device-token": "aa03"}), "an invalid JID"),
        (json.dumps({"account": "alice@localhost", "provider": "", "device-token": "aa03"}), "an empty provider"),
        ('{"account": "alice@localhost", "provider": "apns-binary-api", "device-token": "aa\\u000003"}', "a NUL in a string"),
        ("[" * 200 + "]" * 200, "deep nesting"),
        ("", "an empty body"),
    ]
    for body, name in hostile:
        st, js = h.json("/unregister-device/push.localhost", "POST", body)
        ok = st == 400 and js.get("result") == "failure" and js.get("error")
        t.ok(ok, "400 with a message: %s (%s)" % (name, js.get("error")))
        if not ok:
            t.diag("%r %r" % (st, js))
    # Invalid UTF-8 reached PostgreSQL, which refused it: 500.  Each field.
    for field in ("account", "provider", "device-token"):
        bad = {"account": "alice@localhost", "provider": "apns-binary-api", "device-token": "aa03"}
        bad[field] = "PLACEHOLDER"
        raw = json.dumps(bad).encode().replace(b"PLACEHOLDER", b"a\xff\xfe\xc0\xafb")
        path = os.path.join(work, "bad-utf8.json")
        with open(path, "wb") as f:
            f.write(raw)
        st, js = h.json("/unregister-device/push.localhost", "POST", body_file=path)
        t.ok(st == 400 and field in js.get("error", "") and "UTF-8" in js.get("error", ""),
             "invalid UTF-8 in %s: 400 naming the field (%s %s)" % (field, st, js))
    t.is_(db_count("aa03"), "1", "the row is untouched by the invalid requests")
    # A %00 cut the name short: push.localhost%00evil passed as push.localhost.
    for path in ("/unregister-device/push.localhost%00evil", "/rest/push/unregister-device/push.localhost%00"):
        st, js = h.json(path, "POST", json.dumps({"account": "alice@localhost", "provider": "apns-binary-api",
                                                 "device-token": "aa03"}))
        t.ok(st == 400 and "NUL" in js.get("error", ""), "%%00 in the component's name: 400 saying so (%s %s)"
             % (st, js))
    t.is_(db_count("aa03"), "1", "the row is untouched by the %00 requests")
    big = os.path.join(work, "big.json")
    with open(big, "w") as f:
        f.write('{"account": "alice@localhost", "provider": "apns-binary-api", "device-token": "%s"}' % ("a" * 1048576))
    st, _, _ = h.req("/unregister-device/push.localhost", "POST", body_file=big)
    t.is_(st, 413, "a 1 MB body is refused before it is read: 413")
    t.is_(db_count("aa03"), "1", "none of that removed anything")
    st, js = h.json("/health")
    t.is_(st, 200, "the endpoint still serves after the hostile bodies")

    # --- metrics
    st, _, _ = h.req("/metrics")
    t.is_(st, 401, "/metrics without the bearer token: 401")
    st, _, _ = h.req("/metrics", headers=["Authorization: Bearer wrong"])
    t.is_(st, 401, "/metrics with a wrong token: 401")
    auth = ["Authorization: Bearer " + TOKEN]
    st, heads, text = h.req("/metrics", headers=auth)
    t.ok(st == 200 and heads.get("content-type", "").startswith("text/plain; version=0.0.4"),
         "/metrics with the token: 200 text/plain; version=0.0.4")
    before, bad = prom_parse(text)
    t.ok(not bad and len(before) > 20, "every line is a comment or a sample (%d samples)" % len(before))
    if bad:
        t.diag("\n".join(bad[:10]))
    for name in ["xpushd_publishes_received_total", "xpushd_publishes_ok_total", "xpushd_register_device_total",
                 "xpushd_unregister_device_total", "xpushd_commands_completed_total", "xpushd_pushes_coalesced_total",
                 "xpushd_registrations_removed_total", "xpushd_in_flight", "xpushd_uptime_seconds",
                 "xpushd_link_up", "xpushd_database_up"]:
        t.ok(metric(before, name) is not None, "%s is there" % name)
    t.is_(metric(before, "xpushd_unregister_device_total"), 2.0, "the two HTTP unregisters are counted")
    t.is_((metric(before, "xpushd_link_up"), metric(before, "xpushd_database_up")), (1.0, 1.0),
          "link and database are up")

    reg = register(s, "bb01")
    reg_bad = register(s, "invalid-bb02")
    for i in range(3):
        r = publish(s, reg["node"], reg["secret"], body="m%d" % i)
    r = publish(s, reg_bad["node"], reg_bad["secret"])

    def scrape():
        st, _, text = h.req("/metrics", headers=auth)
        return prom_parse(text)

    def gauge_follows():
        after, _ = scrape()
        return metric(after, "xpushd_registrations", provider="apns-binary-api") == float(db_count_provider())

    ok = wait_until(gauge_follows)
    after, bad = scrape()
    t.ok(not bad, "still well formed after pushes")
    t.is_(metric(after, "xpushd_publishes_received_total") - metric(before, "xpushd_publishes_received_total"), 4.0,
          "publishes_received moved by the four publishes")
    sent = metric(after, "xpushd_push_outcomes_total", provider="apns-binary-api", outcome="sent")
    inval = metric(after, "xpushd_push_outcomes_total", provider="apns-binary-api", outcome="invalid-token")
    t.is_((sent, inval), (3.0, 1.0), "outcome counters by provider and outcome: 3 sent, 1 invalid-token")
    cnt = metric(after, "xpushd_push_latency_seconds_count", provider="apns-binary-api")
    inf = metric(after, "xpushd_push_latency_seconds_bucket", provider="apns-binary-api", le="+Inf")
    buckets = sorted((float(dict(k[1])["le"]), v) for k, v in after.items()
                     if k[0] == "xpushd_push_latency_seconds_bucket" and dict(k[1]).get("provider") == "apns-binary-api"
                     and dict(k[1])["le"] != "+Inf")
    t.ok(cnt == 4.0 and inf == 4.0 and len(buckets) == 12 and all(buckets[i][1] <= buckets[i + 1][1] for i in range(11)),
         "latency histogram: 12 cumulative buckets, +Inf == count == 4")
    t.ok(metric(after, "xpushd_push_latency_seconds_sum", provider="apns-binary-api") is not None,
         "latency histogram has a _sum")
    t.ok(ok, "registrations gauge follows the database (%s)" %
         metric(after, "xpushd_registrations", provider="apns-binary-api"))
    t.ok(metric(after, "xpushd_provider_up", provider="other") == 1.0, "provider_up per provider")

    # The same figures in get-statistics and the SIGUSR1 log line.
    stats = command(s, "get-statistics", {}, frm="admin@localhost/x")
    st, _, text = h.req("/metrics", headers=auth)
    now, _ = prom_parse(text)
    same = all(float(stats.get(n, -1)) == metric(now, "xpushd_%s_total" % n.replace("-", "_"))
               for n in ["publishes-received", "publishes-ok", "publishes-unknown-node", "register-device",
                         "unregister-device", "registrations-removed"])
    # get-statistics itself completed after it built its form.
    same = same and float(stats.get("commands-completed", -1)) + 1 == metric(now, "xpushd_commands_completed_total")
    same = same and float(stats.get("apns-binary-api-sent", -1)) == metric(
        now, "xpushd_push_outcomes_total", provider="apns-binary-api", outcome="sent")
    t.ok(same, "get-statistics and /metrics show the same figures")
    if not same:
        t.diag(repr(stats))
    d.proc.send_signal(10)
    t.ok(d.wait_log(r"stats: uptime="), "SIGUSR1 logs the statistics")
    line = re.findall(r"stats: uptime=\S+ in-flight=\S+ (.*)", d.logtext())[-1]
    logged = dict(kv.split("=") for kv in line.split())
    same = all(float(v) == metric(now, "xpushd_%s_total" % k.replace("-", "_")) for k, v in logged.items())
    t.ok(same, "the SIGUSR1 line shows the /metrics figures")
    if not same:
        t.diag(line)
    pline = re.findall(r"stats: provider apns-binary-api (.*)", d.logtext())
    plogged = dict(kv.split("=") for kv in pline[-1].split()) if pline else {}
    same = len(plogged) == 6 and all(
        float(v) == (metric(now, "xpushd_push_outcomes_total", provider="apns-binary-api", outcome=k) or 0.0)
        for k, v in plogged.items())
    t.ok(same, "the SIGUSR1 provider line names outcomes as /metrics does, with its figures")
    if not same:
        t.diag(repr(pline))

    # --- health
    st, js = h.json("/health")
    t.ok(st == 200 and js.get("status") == "ok" and js.get("providers", {}).get("other") == "ok",
         "/health: 200 ok with every provider")
    subprocess.run(["sh", "-c", ". \"$top_srcdir/test/lib/pg.sh\"; pg_stop_server"], check=False)
    st, js = health_until(h, 503)
    t.ok(st == 503 and "database: unreachable" in js.get("problems", []),
         "PostgreSQL down: 503 naming the database (%s)" % js.get("problems"))
    st, _, text = h.req("/metrics", headers=auth)
    now, _ = prom_parse(text)
    t.is_(metric(now, "xpushd_database_up"), 0.0, "xpushd_database_up drops to 0")
    st, js = h.json("/unregister-device/push.localhost", "POST",
                    json.dumps({"account": "alice@localhost", "provider": "apns-binary-api", "device-token": "aa03"}))
    t.is_((st, js.get("result")), (503, "failure"), "unregister while the database is down: 503 failure")
    subprocess.run(["sh", "-c", ". \"$top_srcdir/test/lib/pg.sh\"; pg_start_server"], check=False)
    st, js = health_until(h, 200)
    t.is_(st, 200, "PostgreSQL back: 200")
    s.conn.close()
    st, js = health_until(h, 503)
    t.ok(st == 503 and any(p.startswith("xmpp link") for p in js.get("problems", [])),
         "the XMPP link down: 503 naming the link (%s)" % js.get("problems"))
    s.accept(SECRET)
    st, js = health_until(h, 200)
    t.is_(st, 200, "the link back: 200")

    # --- rate limit, after a reload that tightens it
    d.write_conf(conf(s.port, rest.replace("'rate-burst' = 10000; 'rate-limit' = 600000",
                                           "'rate-burst' = 3; 'rate-limit' = 1"), rec))
    d.hup()
    t.ok(d.wait_log("configuration reloaded"), "SIGHUP with a tight rate limit")
    codes = [h.req("/health")[0] for _ in range(3)]
    st, heads, body = h.req("/health")
    t.ok(codes == [200, 200, 200] and st == 429 and heads.get("retry-after", "0").isdigit()
         and int(heads["retry-after"]) >= 1, "the fourth request in a burst of 3: 429 with Retry-After (%s, %s)"
         % (codes, st))
    st, _ = h.json("/unregister-device/push.localhost", "POST", "{}")
    t.is_(st, 429, "the limit covers the unregister endpoint")

    # --- reload to plain HTTP on loopback: the endpoint rebinds
    port2 = free_port()
    d.write_conf(conf(s.port, "listen = '127.0.0.1:%d'; tls = false; 'rate-burst' = 100" % port2, rec))
    d.hup()
    h2 = Http("http://127.0.0.1:%d" % port2, None)
    t.ok(wait_until(lambda: h2.req("/health")[0] is not None), "SIGHUP moves the endpoint")
    st, js = h2.json("/health")
    t.is_(st, 200, "plain HTTP on loopback after the reload; no token needed any more for /health")
    st, _, text = h2.req("/metrics")
    t.is_(st, 200, "metrics-token removed: /metrics open")
    st, _, _ = h.req("/health")
    t.ok(st is None, "the old HTTPS port is closed")

    finish_daemon(t, d)
    slowloris(rec)
    exhaustion(rec)
    accept_errors(rec)


def plain_daemon(rec, rest, nofile=None):
    """A fresh xpushd with a plain-HTTP endpoint (rest: extra settings)
    and its fake XMPP server, connected; nofile: its RLIMIT_NOFILE."""
    s = FakeServer()
    d = Daemon("", top_builddir)
    port = free_port()
    d.write_conf(conf(s.port, "listen = '127.0.0.1:%d'; tls = false; 'rate-burst' = 10000; "
                      "'rate-limit' = 600000; %s" % (port, rest), rec))
    saved = resource.getrlimit(resource.RLIMIT_NOFILE)
    if nofile is not None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, saved[1]))
    try:
        d.start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, saved)
    s.accept(SECRET)
    h = Http("http://127.0.0.1:%d" % port, None)
    wait_until(lambda: h.req("/health")[0] == 200)
    return s, d, h, port


def connect_from(src, port):
    c = socket.socket()
    c.bind((src, 0))
    c.connect(("127.0.0.1", port))
    c.setblocking(False)
    return c


def closed_by_server(c):
    """True once the server closed c (EOF or reset); False while open."""
    try:
        return c.recv(4096) == b"" or closed_by_server(c)
    except BlockingIOError:
        return False
    except OSError:
        return True


def slowloris(rec):
    """Connections that dribble a header line now and then.  Before: the
    30 s silence timeout restarted on every line, and one address could
    hold every connection it liked."""
    n, cap, timeout = 20, 8, 3
    s, d, h, port = plain_daemon(rec, "'max-connections-per-address' = %d; 'request-timeout' = %d"
                                 % (cap, timeout))
    start = time.monotonic()
    conns = [connect_from("127.0.0.1", port) for _ in range(n)]
    for c in conns:
        c.send(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    closed_at = {}
    sent = [start]

    def dribble():
        sending = time.monotonic() - sent[0] >= 0.5
        if sending:
            sent[0] = time.monotonic()
        for i, c in enumerate(conns):
            if i in closed_at:
                continue
            if closed_by_server(c):
                closed_at[i] = time.monotonic() - start
                continue
            try:
                if sending:
                    c.send(b"X-Slow: 1\r\n")
            except OSError:
                closed_at[i] = time.monotonic() - start
        return len(closed_at) == n

    # Beyond the cap: closed at once; the rest: at the deadline, which
    # cannot come before `timeout` seconds after start (each was accepted
    # after it).
    wait_until(lambda: dribble() or len(closed_at) >= n - cap, DEADLINE)
    other = connect_from("127.0.0.2", port)
    other.send(b"GET /health HTTP/1.0\r\n\r\n")
    answer = b""
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end and not answer.endswith(b"}\n"):
        try:
            chunk = other.recv(4096)
        except BlockingIOError:
            time.sleep(POLL)
            continue
        if not chunk:
            break
        answer += chunk
    other.close()
    t.ok(re.match(rb"HTTP/1\.[01] 200 ", answer), "another address is served while 127.0.0.1 holds its %d (%r)"
         % (cap, answer[:40]))
    wait_until(dribble, DEADLINE)
    held = sorted(closed_at.values())
    refused = len([x for x in held if x < timeout])
    t.diag("slowloris: %d connections, %d refused at once, closed after %s s (%d still open at the "
           "end of the wait)" % (n, refused, ", ".join("%.1f" % x for x in held[-cap:]), n - len(closed_at)))
    t.is_(refused, n - cap, "max-connections-per-address %d: %d of %d connections closed at once"
          % (cap, refused, n))
    t.ok(len(closed_at) == n and held[-1] >= timeout,
         "request-timeout %d: every dribbling connection closed at its deadline (%d of %d closed)"
         % (timeout, len(closed_at), n))
    for c in conns:
        c.close()
    st, _ = h.json("/health")
    t.is_(st, 200, "served again once the slow clients are gone")
    finish_daemon(t, d)


def log_rate(d, window=2.0):
    """Lines the daemon logs per second over `window` seconds (a rate:
    time has to pass to measure it)."""
    before = d.logtext().count("\n")
    start = time.monotonic()
    wait_until(lambda: time.monotonic() - start >= window, window * 10)
    return (d.logtext().count("\n") - before) / (time.monotonic() - start)


def exhaustion(rec):
    """Clients hold connections until xpushd runs out of descriptors.
    Before: libevent's accept loop logged every failed accept() (millions
    of lines a minute) and the XMPP link could not reconnect."""
    nofile = 160
    s, d, h, port = plain_daemon(rec, "'request-timeout' = 600; 'max-connections-per-address' = 10000",
                                 nofile=nofile)
    reg = register(s, "ee01")
    t.ok(reg.get("node"), "under RLIMIT_NOFILE %d: a device registers" % nofile)
    conns = []
    for i in range(nofile + 50):
        try:
            conns.append(connect_from("127.0.0.%d" % (2 + i % 200), port))
        except OSError:
            break
    # Each is accepted (or waits in the backlog) while xpushd has room,
    # and keeps sending a header line now and then: idle ones would be
    # closed by the 30 s silence timeout and give their descriptors back.
    stop = threading.Event()

    def dribble():
        while not stop.wait(1.0):
            for c in conns:
                try:
                    c.send(b"X-Slow: 1\r\n")
                except OSError:
                    pass
    for c in conns:
        try:
            c.send(b"GET /health HTTP/1.1\r\n")
        except OSError:
            pass
    dribbler = threading.Thread(target=dribble)
    dribbler.start()
    t.ok(d.wait_log(r"Too many open files|not accepting"), "xpushd stops accepting")
    rate = log_rate(d)
    t.diag("at the descriptor limit: %.0f log lines per second, %d descriptors open in xpushd"
           % (rate, len(os.listdir("/proc/%d/fd" % d.proc.pid))))
    t.ok(rate < 20, "at the descriptor limit the log does not flood (%.0f lines/s)" % rate)
    s.conn.close()
    try:
        s.accept(SECRET, timeout=DEADLINE)
        back = s.ping()
    except OSError as e:
        back = False
        t.diag("the link did not come back: %s" % e)
    t.ok(back, "the XMPP link reconnects while clients hold the endpoint")
    reg = register(s, "ee02") if back else {}
    t.ok(reg.get("node"), "the database still works: a device registers")
    stop.set()
    dribbler.join()
    for c in conns:
        c.close()
    t.ok(wait_until(lambda: h.req("/health")[0] == 200), "the endpoint serves again once they leave")
    finish_daemon(t, d)


def accept_errors(rec):
    """accept() failing although the connection cap leaves room (the
    descriptors went elsewhere: here the limit is lowered under the running
    daemon).  Before: libevent retried and logged at once, forever."""
    s, d, h, port = plain_daemon(rec, "'request-timeout' = 600")
    fds = "/proc/%d/fd" % d.proc.pid
    limit = resource.prlimit(d.proc.pid, resource.RLIMIT_NOFILE)
    resource.prlimit(d.proc.pid, resource.RLIMIT_NOFILE, (len(os.listdir(fds)) + 3, limit[1]))
    conns = [connect_from("127.0.0.%d" % (2 + i), port) for i in range(20)]
    t.ok(d.wait_log(r"rest: accept: Too many open files; not accepting for"),
         "accept() fails with EMFILE: the endpoint backs off")
    rate = log_rate(d)
    t.diag("accept() failing: %.0f log lines per second" % rate)
    t.ok(rate < 20, "accept() failing: the log does not flood (%.0f lines/s)" % rate)
    resource.prlimit(d.proc.pid, resource.RLIMIT_NOFILE, limit)
    for c in conns:
        c.close()
    t.ok(wait_until(lambda: h.req("/health")[0] == 200), "the limit raised again: the endpoint accepts again")
    finish_daemon(t, d)


def health_until(h, status):
    """GET /health until it answers `status` (or the deadline passes):
    (status, body) of the last answer."""
    last = [None, {}]

    def answered():
        last[:] = h.json("/health")
        return last[0] == status

    wait_until(answered)
    return tuple(last)


def db_count_provider():
    r = subprocess.run(["psql", "-X", "-A", "-t", DB, "-c",
                        "select count(*) from devices where provider = 'apns-binary-api'"],
                       capture_output=True, text=True)
    return r.stdout.strip() or "-1"


main()
sys.exit(t.done())
