#!/usr/bin/python3
"""A SIGHUP that changes the component secret while publishes are in
flight to a slow provider (issue 18: 67 were lost, and ejabberd disables
push on a publish it gets no answer to).  Every publish must be answered
on the old stream before xpushd closes it with </stream:stream>, and then
xpushd must connect again with the new secret.  TAP output."""
import os
import re
import sys
import time

from xptest import (Tap, top_builddir, MODULE_PATH, MIGRATIONS, SECRET, CMD, XD,
                    DEADLINE, db_uri, finish_daemon)
from fakexmpp import FakeServer, Daemon

t = Tap()
DB = db_uri()
NEW_SECRET = "the-new-component-secret"
DEVICES = 67
DELAY_MS = 2000  # the provider's answer: long enough to be in flight at SIGHUP


def conf(port, secret, record):
    return """
'module-path' = '%s'
xmpp () { jid = 'push.localhost'; port = %d; secret = '%s' }
database () { uri = '%s'; migrations = '%s' }
push () { 'apns-binary-api' () { plugin = 'testprov'; 'record-file' = '%s'; 'delay-ms' = %d } }
""" % (MODULE_PATH, port, secret, DB, MIGRATIONS, record, DELAY_MS)


def register(s, token):
    form = ("<x xmlns='%s' type='submit'><field var='provider'><value>apns-binary-api</value>"
            "</field><field var='device-token'><value>%s</value></field></x>" % (XD, token))
    r = s.iq("<command xmlns='%s' node='register-device' action='execute'>%s</command>"
             % (CMD, form), frm="u%s@localhost/phone" % token)
    out = {}
    for f in r.iter("{%s}field" % XD) if r is not None else []:
        out[f.get("var")] = f.findtext("{%s}value" % XD)
    return out


def publish_xml(iq_id, node, secret):
    return ("<iq type='set' id='%s' from='localhost' to='push.localhost'>"
            "<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='%s'><item>"
            "<notification xmlns='urn:xmpp:push:0'/></item></publish><publish-options>"
            "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'>"
            "<value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
            "<field var='secret'><value>%s</value></field></x></publish-options></pubsub></iq>"
            % (iq_id, node, secret))


def main():
    s = FakeServer()
    d = Daemon("", top_builddir)
    record = os.path.join(d.dir, "pushes.jsonl")
    d.write_conf(conf(s.port, SECRET, record))
    m = d.migrate()
    t.ok(m.returncode == 0, "xpushd --migrate prepares the database")
    d.start()
    s.accept(SECRET)
    t.ok(s.ping(), "xpushd connects")

    regs = [register(s, "aa%04x" % i) for i in range(DEVICES)]
    t.ok(all(r.get("node") and r.get("secret") for r in regs),
         "%d devices registered" % DEVICES)

    # The publishes, all at once; the provider answers each after DELAY_MS.
    ids = ["pub%d" % i for i in range(DEVICES)]
    s.send("".join(publish_xml(i, r["node"], r["secret"]) for i, r in zip(ids, regs)))
    t.ok(wait_until_recorded(record, DEVICES), "all %d pushes reached the provider" % DEVICES)

    # SIGHUP with a new secret while they are in flight.
    d.write_conf(conf(s.port, NEW_SECRET, record))
    d.hup()
    # Everything on the old stream, up to its close.
    s._read_until(lambda: s.depth == 0, DEADLINE)
    old_raw = s.raw
    answered = {}
    for st in s.stanzas:
        if st.get("id") in ids:
            answered[st.get("id")] = st.get("type")
    lost = [i for i in ids if i not in answered]
    t.diag("publishes lost on a SIGHUP that changes the secret: %d of %d" % (len(lost), DEVICES))
    t.is_(len(lost), 0, "every publish in flight is answered on the old stream")
    t.ok(all(v == "result" for v in answered.values()),
         "as results: %s" % sorted(set(answered.values())))
    closed = old_raw.rstrip().endswith(b"</stream:stream>")
    t.ok(closed, "then xpushd closes the old stream with </stream:stream>")
    if closed and answered:
        last = max(old_raw.find(("id='%s'" % i).encode()) for i in answered)
        t.ok(last < old_raw.rfind(b"</stream:stream>"), "the answers come before the close")
    else:
        t.ok(False, "the answers come before the close")
    try:
        s.send("</stream:stream>")
    except OSError:
        pass
    s.conn.close()

    # And the new connection uses the new secret (accept() checks it).
    try:
        s.accept(NEW_SECRET, timeout=DEADLINE)
        ok = s.ping()
    except Exception as e:  # noqa: BLE001 - reported as a failed test
        t.diag("reconnect: %r" % e)
        ok = False
    t.ok(ok, "xpushd connects again with the new secret")
    t.ok(re.search(r"answering \d+ requests in flight before reconnecting", d.logtext()),
         "the log says it drains before reconnecting")

    finish_daemon(t, d)
    return t.done()


def wait_until_recorded(path, n):
    from xptest import wait_until

    def count():
        try:
            with open(path) as f:
                return sum(1 for _ in f) >= n
        except OSError:
            return False
    return wait_until(count)


sys.exit(main())
