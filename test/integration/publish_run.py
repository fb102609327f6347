#!/usr/bin/python3
"""The publish pipeline and the ad-hoc commands, end to end through a real
component connection, a real PostgreSQL (XPUSHD_TEST_DB_URI, see
test/integration/publish_test.sh) and the test provider module
(testprov.so), which records each push and answers by token prefix.  Publishes are the
stanzas Prosody really sent (test/fixtures/prosody) and the shapes other
servers and Tigase send.  TAP output."""
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

from xptest import (Tap, top_builddir, MODULE_PATH, MIGRATIONS, SECRET, CMD, XD, DEADLINE,
                    db_uri, fixture_path, finish_daemon, free_port, wait_until)
from fakexmpp import FakeServer, Daemon, error_of

t = Tap()
DB = db_uri()
MAX_SESSIONS = 16   # adhoc-max-sessions: per account (bare JID)
MAX_TOTAL = 24      # adhoc-max-sessions-total


def conf(port, record, extra="", providers=None):
    providers = providers if providers is not None else """
    'apns-binary-api' () { plugin = 'testprov'; 'record-file' = '%s' }
    'other' () { plugin = 'testprov'; 'record-file' = '%s' }
""" % (record, record)
    return """
admins = [ 'admin@localhost' ]
'module-path' = '%s'
'publish-deadline' = 1500
'low-priority-window' = 2
'high-priority-burst' = 3
'high-priority-rate' = 60
'adhoc-session-timeout' = 2
'adhoc-max-sessions' = %d
'adhoc-max-sessions-total' = %d
%s
xmpp () { jid = 'push.localhost'; port = %d; secret = '%s' }
database () { uri = '%s'; migrations = '%s' }
push () { %s }
""" % (MODULE_PATH, MAX_SESSIONS, MAX_TOTAL, extra, port, SECRET, DB, MIGRATIONS, providers)


def form_xml(fields, ftype="submit"):
    out = "<x xmlns='jabber:x:data' type='%s'>" % ftype
    for var, val in fields.items():
        vals = val if isinstance(val, list) else [val]
        out += "<field var='%s'>%s</field>" % (var, "".join("<value>%s</value>" % v for v in vals))
    return out + "</x>"


def command(s, node, fields, frm="alice@localhost/phone", action="execute", sid=None):
    attrs = "node='%s' action='%s'" % (node, action)
    if sid:
        attrs += " sessionid='%s'" % sid
    body = form_xml(fields) if fields is not None else ""
    return s.iq("<command xmlns='%s' %s>%s</command>" % (CMD, attrs, body), frm=frm)


def result_fields(iq):
    out = {}
    if iq is None:
        return out
    cmd = iq.find("{%s}command" % CMD)
    if cmd is None:
        return out
    x = cmd.find("{%s}x" % XD)
    if x is None:
        return out
    for f in x.findall("{%s}field" % XD):
        vals = [v.text or "" for v in f.findall("{%s}value" % XD)]
        out[f.get("var")] = vals if len(vals) != 1 else vals[0]
    return out


def note_of(iq):
    cmd = iq.find("{%s}command" % CMD) if iq is not None else None
    n = cmd.find("{%s}note" % CMD) if cmd is not None else None
    return (n.get("type"), n.text) if n is not None else None


def refusal(iq):
    """(type, condition, XEP-0050 specific condition) of an IQ error."""
    e = error_of(iq)
    if e is None:
        return None
    specific = None
    for c in iq.find("{jabber:component:accept}error"):
        if c.tag.startswith("{%s}" % CMD):
            specific = c.tag.split("}")[1]
    return (e[0], e[1], specific)


def text_of(iq):
    e = error_of(iq)
    return (e[2] or "") if e else ""


def session_limits(s):
    """adhoc-max-sessions counts the sessions of an account (bare JID),
    whatever its resources; adhoc-max-sessions-total counts everyone's.
    Beyond either: wait/resource-constraint (RFC 6120 8.3.3.18)."""
    sids = []
    for i in range(MAX_SESSIONS):
        r = command(s, "register-device", None, frm="alice@localhost/r%d" % i)
        cmd = r.find("{%s}command" % CMD) if r is not None else None
        if cmd is not None and cmd.get("sessionid"):
            sids.append(("alice@localhost/r%d" % i, cmd.get("sessionid")))
    t.is_(len(sids), MAX_SESSIONS, "%d sessions from %d resources of one account" % (MAX_SESSIONS, MAX_SESSIONS))
    r = command(s, "register-device", None, frm="alice@localhost/r%d" % MAX_SESSIONS)
    t.is_(error_of(r)[:2] if error_of(r) else None, ("wait", "resource-constraint"),
          "the next one, from yet another resource, is refused: wait/resource-constraint")
    r = command(s, "register-device", None, frm="bob@localhost/r0")
    cmd = r.find("{%s}command" % CMD) if r is not None else None
    t.ok(cmd is not None and cmd.get("sessionid"), "another account still opens one")
    if cmd is not None and cmd.get("sessionid"):
        sids.append(("bob@localhost/r0", cmd.get("sessionid")))
    n = 0
    while len(sids) < MAX_TOTAL and n < MAX_TOTAL:
        frm = "user%d@localhost/x" % n
        r = command(s, "register-device", None, frm=frm)
        cmd = r.find("{%s}command" % CMD) if r is not None else None
        if cmd is not None and cmd.get("sessionid"):
            sids.append((frm, cmd.get("sessionid")))
        n += 1
    t.is_(len(sids), MAX_TOTAL, "%d sessions open in all" % MAX_TOTAL)
    r = command(s, "register-device", None, frm="zed@localhost/x")
    t.is_(error_of(r)[:2] if error_of(r) else None, ("wait", "resource-constraint"),
          "beyond adhoc-max-sessions-total a new account is refused too")
    frm, sid = sids.pop()
    r = command(s, "register-device", None, frm=frm, action="cancel", sid=sid)
    r = command(s, "register-device", None, frm="zed@localhost/x")
    cmd = r.find("{%s}command" % CMD) if r is not None else None
    t.ok(cmd is not None and cmd.get("sessionid"), "a cancel frees a place")
    if cmd is not None and cmd.get("sessionid"):
        sids.append(("zed@localhost/x", cmd.get("sessionid")))
    frm, sid = sids[0]
    r = command(s, "register-device", None, frm=frm, action="cancel", sid=sid)
    r = command(s, "register-device", None, frm="alice@localhost/again")
    cmd = r.find("{%s}command" % CMD) if r is not None else None
    t.ok(cmd is not None and cmd.get("sessionid"), "and alice may open one again once one of hers is canceled")
    if cmd is not None and cmd.get("sessionid"):
        sids[0] = ("alice@localhost/again", cmd.get("sessionid"))
    canceled = 0
    for frm, sid in sids:
        r = command(s, "register-device", None, frm=frm, action="cancel", sid=sid)
        cmd = r.find("{%s}command" % CMD) if r is not None else None
        canceled += cmd is not None and cmd.get("status") == "canceled"
    t.is_(canceled, len(sids), "every session canceled")


def register(s, token, voip=None, provider="apns-binary-api", frm="alice@localhost/phone"):
    f = {"provider": provider, "device-token": token}
    if voip:
        f["device-second-token"] = voip
    r = command(s, "register-device", f, frm=frm)
    return result_fields(r), r


def fixture(name):
    with open(fixture_path("prosody", name)) as f:
        text = f.read()
    return text.split("\n", 1)[1].strip()  # the first line is a comment


def publish_fixture(s, name, node, secret, frm="localhost", iq_id=None):
    text = fixture(name)
    text = re.sub(r"node='[0-9a-f]+'", "node='%s'" % node, text)
    text = re.sub(r"<field var='secret'><value>[0-9a-f]+</value>",
                  "<field var='secret'><value>%s</value>" % secret, text)
    text = re.sub(r"from='localhost'", "from='%s'" % frm, text)
    if iq_id is not None:
        text = re.sub(r" id='[0-9a-f]+'", " id='%s'" % iq_id.replace("&", "&amp;"), text, count=1)
    m = re.search(r" id='([^']+)'", text)
    s.send(text)
    want = iq_id if iq_id is not None else m.group(1)
    return s.wait_id(want)


def publish(s, node, notification="", secret=None, frm="localhost", item=True):
    po = ""
    if secret is not None:
        po = ("<publish-options><x xmlns='jabber:x:data' type='submit'>"
              "<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
              "<field var='secret'><value>%s</value></field></x></publish-options>" % secret)
    inner = ("<item><notification xmlns='urn:xmpp:push:0'>%s</notification></item>" % notification) if item else ""
    return s.iq("<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='%s'>%s</publish>%s</pubsub>"
                % (node, inner, po), frm=frm)


class Record:
    """The pushes testprov recorded; new(token=...) returns the ones not
    returned before, optionally only those to one token."""

    def __init__(self, path):
        self.path = path
        self.taken = set()

    def _lines(self):
        if not os.path.exists(self.path):
            return []
        with open(self.path) as f:
            return f.read().splitlines()

    def new(self, wait_for=1, timeout=DEADLINE, token=None):
        end = time.time() + timeout
        while True:
            lines = self._lines()
            fresh = [(i, json.loads(x)) for i, x in enumerate(lines) if i not in self.taken]
            if token is not None:
                fresh = [(i, p) for i, p in fresh if p.get("token") == token]
            if len(fresh) >= wait_for or time.time() >= end:
                break
            time.sleep(0.05)
        for i, _ in fresh:
            self.taken.add(i)
        return [p for _, p in fresh]


def psql(query):
    """The single value a query returns, as psql prints it."""
    out = subprocess.run(["psql", "-X", "-A", "-t", DB, "-c", query], capture_output=True, text=True)
    return out.stdout.strip()


def summary(body=None, count="1", sender=None, ftype="form"):
    f = "<x xmlns='jabber:x:data' type='%s'><field var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field>" % ftype
    if count is not None:
        f += "<field var='message-count'><value>%s</value></field>" % count
    f += "<field var='last-message-sender'>%s</field>" % ("<value>%s</value>" % sender if sender else "")
    f += "<field var='last-message-body'>%s</field>" % ("<value>%s</value>" % body if body else "")
    return f + "</x>"


def main():
    s = FakeServer()
    d = Daemon("", top_builddir)
    rec = Record(os.path.join(d.dir, "pushes.jsonl"))
    d.write_conf(conf(s.port, rec.path))
    m = d.migrate()
    t.ok(m.returncode == 0 and "applied" in m.stderr, "xpushd --migrate prepares the database")
    d.start()
    s.accept(SECRET)
    t.ok(s.ping(), "xpushd connects")

    # --- ad-hoc: discovery, registration
    r = s.iq("<query xmlns='http://jabber.org/protocol/disco#items' node='%s'/>" % CMD,
             frm="alice@localhost/phone", typ="get")
    nodes = [i.get("node") for i in r.iter("{http://jabber.org/protocol/disco#items}item")]
    t.ok(nodes == ["register-device", "unregister-device"], "a user sees the two user commands: %s" % nodes)
    r = s.iq("<query xmlns='http://jabber.org/protocol/disco#items' node='%s'/>" % CMD,
             frm="admin@localhost/laptop", typ="get")
    nodes = [i.get("node") for i in r.iter("{http://jabber.org/protocol/disco#items}item")]
    t.ok("set-apns-certificate" in nodes and "get-statistics" in nodes and "list-devices" in nodes,
         "an admin sees the admin commands too")
    r = s.iq("<query xmlns='http://jabber.org/protocol/disco#info' node='register-device'/>",
             frm="alice@localhost/phone", typ="get")
    ident = r.find(".//{http://jabber.org/protocol/disco#info}identity")
    t.ok(ident is not None and ident.get("category") == "automation" and ident.get("type") == "command-node",
         "disco#info on a command node: automation/command-node")

    # Two-stage: execute, then complete with the session id.
    r = command(s, "register-device", None)
    cmd = r.find("{%s}command" % CMD)
    t.ok(cmd is not None and cmd.get("status") == "executing" and cmd.get("sessionid"),
         "execute opens a session with status executing")
    x = cmd.find("{%s}x" % XD) if cmd is not None else None
    fields = {f.get("var"): f for f in x.findall("{%s}field" % XD)} if x is not None else {}
    opts = [o.findtext("{%s}value" % XD) for o in fields["provider"].findall("{%s}option" % XD)] if "provider" in fields else []
    t.ok(opts == ["apns-binary-api", "other"], "provider is a list of the configured ids")
    t.ok(fields.get("device-token") is not None and fields["device-token"].find("{%s}required" % XD) is not None,
         "device-token is required")
    t.ok(cmd.find("{%s}actions" % CMD) is not None, "with actions")
    sid = cmd.get("sessionid")
    r = command(s, "register-device", {"provider": "apns-binary-api", "device-token": "aa11"},
                action="complete", sid=sid)
    reg = result_fields(r)
    t.ok(r.find("{%s}command" % CMD).get("status") == "completed" and len(reg.get("node", "")) >= 22,
         "complete registers and returns a node")
    t.ok(len(reg.get("secret", "")) >= 22, "and a secret")
    t.ok("tigase:push:encrypt:0" in reg.get("features", []), "and the provider's features")
    t.is_(reg.get("max-payload-size"), "4096", "and max-payload-size")
    node, secret = reg["node"], reg["secret"]

    reg2, _ = register(s, "aa11")
    t.ok(reg2.get("node") == node and reg2.get("secret") == secret,
         "registering the same device again returns the same node and secret (single stage)")

    r = command(s, "register-device", {"provider": "apns-binary-api", "device-token": "aa11"}, action="complete", sid=sid)
    t.is_(error_of(r)[:2] if error_of(r) else None, ("modify", "bad-request"), "a finished session id is refused")
    t.ok(r.find(".//{%s}bad-sessionid" % CMD) is not None, "with bad-sessionid")

    # Refused input is an IQ error, not status='completed' with an error
    # note that clients read as success: XEP-0050 section 4.6, modify /
    # bad-request with the specific condition bad-payload, and a text that
    # names the field.
    r = command(s, "register-device", {"provider": "nope", "device-token": "x"})
    t.is_(refusal(r), ("modify", "bad-request", "bad-payload"),
          "an unknown provider: an IQ error modify/bad-request/bad-payload, not a completed command")
    t.ok(text_of(r).startswith("provider: "), "naming the field: %s" % text_of(r))
    r = command(s, "register-device", {"provider": "apns-binary-api", "device-token": ""})
    t.ok(refusal(r) == ("modify", "bad-request", "bad-payload") and text_of(r).startswith("device-token: "),
         "an empty token: an IQ error naming device-token")
    r = command(s, "register-device", {"provider": "apns-binary-api", "device-token": "refuse-me"})
    t.ok(refusal(r) and "refused" in text_of(r), "the module's token check is applied")
    t.is_(text_of(r), "device-token: tokens starting with 'refuse' are refused",
          "one sentence: the field, then the module's reason")
    m = re.search(rb"<iq [^>]*id='%s'.*?</iq>" % r.get("id").encode(), s.raw) if r is not None else None
    t.diag("a refused register-device: %s" % (m.group(0).decode() if m else None))
    r = command(s, "register-device", {"provider": "apns-binary-api", "device-token": "has space"})
    t.ok(refusal(r) and "printable" in text_of(r), "tokens with spaces are refused")
    t.is_(text_of(r), "device-token: a device token is printable ASCII without spaces", "in one clear sentence")
    r = command(s, "register-device", {"provider": "apns-binary-api", "device-token": "aa11",
                                       "device-second-token": "refuse-voip"})
    t.is_(text_of(r), "device-second-token: tokens starting with 'refuse' are refused",
          "a refused VoIP token names device-second-token")
    r = command(s, "set-apns-certificate", {"provider": "other", "certificate": "eA=="},
                frm="admin@localhost/laptop")
    t.ok(refusal(r) == ("modify", "bad-request", "bad-payload") and text_of(r).startswith("provider: "),
         "set-apns-certificate for a provider without certificates: an IQ error naming provider (%s)" % text_of(r))
    r = command(s, "list-devices", {"jid": "@@"}, frm="admin@localhost/laptop")
    t.ok(refusal(r) and text_of(r).startswith("jid: "), "list-devices with a bad JID: an IQ error naming jid")

    # XEP-0004 section 3.2: a field's var is unique in its form, and only
    # the multi types and hidden carry several values.
    r = command(s, "register-device", {"provider": "apns-binary-api", "device-token": ["ab12", "ab13"]})
    t.is_(refusal(r), ("modify", "bad-request", "bad-payload"), "a text-single field with two values is refused")
    t.ok(text_of(r).startswith("device-token: "), "naming the field: %s" % text_of(r))
    t.is_(psql("select count(*) from devices where token in ('ab12', 'ab13')"), "0", "and nothing is stored")
    r = s.iq("<command xmlns='%s' node='register-device' action='execute'><x xmlns='jabber:x:data' type='submit'>"
             "<field var='provider'><value>apns-binary-api</value></field>"
             "<field var='device-token'><value>ab14</value></field>"
             "<field var='device-token'><value>ab15</value></field></x></command>" % CMD, frm="alice@localhost/phone")
    t.is_(refusal(r), ("modify", "bad-request", "bad-payload"), "a form with the same field twice is refused")
    t.ok(text_of(r).startswith("device-token: "), "naming the field: %s" % text_of(r))
    t.is_(psql("select count(*) from devices where token in ('ab14', 'ab15')"), "0", "and nothing is stored")
    r = command(s, "register-device", {"provider": ["apns-binary-api", "other"], "device-token": "ab16"})
    t.ok(refusal(r) and text_of(r).startswith("provider: "), "a list-single field with two values is refused")

    r = command(s, "no-such-command", None)
    t.is_(error_of(r)[:2], ("cancel", "item-not-found"), "an unknown command node: item-not-found")
    r = command(s, "get-statistics", None)
    t.is_(error_of(r)[:2], ("auth", "forbidden"), "an admin command refused to a user")
    r = command(s, "register-device", None, action="bogus")
    t.ok(error_of(r) and r.find(".//{%s}malformed-action" % CMD) is not None, "a bogus action: malformed-action")
    r = command(s, "register-device", None)
    sid = r.find("{%s}command" % CMD).get("sessionid")
    r = command(s, "register-device", None, action="cancel", sid=sid)
    t.is_(r.find("{%s}command" % CMD).get("status"), "canceled", "cancel ends a session")
    r = command(s, "register-device", None)
    sid = r.find("{%s}command" % CMD).get("sessionid")
    r = command(s, "register-device", {"provider": "apns-binary-api", "device-token": "aa11"},
                frm="alice@localhost/other", action="complete", sid=sid)
    t.ok(r.find(".//{%s}bad-sessionid" % CMD) is not None, "a session is bound to the full JID that opened it")
    # Not a wait for work: adhoc.c compares the session's age with the
    # wall clock (whole seconds) when the next request comes, so the session
    # has expired once adhoc-session-timeout (2 s) plus a second has passed.
    time.sleep(2.5)
    r = command(s, "register-device", {"provider": "apns-binary-api", "device-token": "aa11"},
                action="complete", sid=sid)
    t.ok(error_of(r) and r.find(".//{%s}session-expired" % CMD) is not None, "an expired session: session-expired")

    session_limits(s)

    # --- publishes as Prosody sends them
    r = publish_fixture(s, "offline-chat-body.xml", node, secret)
    t.is_(r.get("type") if r is not None else None, "result", "Prosody's publish (from the domain, secret) gets a result")
    p = rec.new(token="aa11")
    t.ok(len(p) == 1 and p[0]["token"] == "aa11" and p[0]["prio"] == "high" and p[0]["body"] == "New Message!"
         and p[0]["account"] == "alice@localhost" and p[0]["unread"] == 1,
         "one high-priority push with the placeholder body: %s" % p)
    t.is_(wait_until(lambda: psql("select last_push is not null from devices where token = 'aa11'") == "t"),
          True, "last_push is written (in a batch, within a second or two)")
    r = publish_fixture(s, "offline-chatstate-only.xml", node, secret)
    p = rec.new(token="aa11")
    t.ok(r.get("type") == "result" and len(p) == 1 and p[0]["prio"] == "low",
         "a chat state without a body goes as a low-priority push")
    r = publish_fixture(s, "full-offline-chat-body.xml", node, secret)
    p = rec.new(token="aa11")
    t.ok(len(p) == 1 and p[0]["body"] == "hi alice, from the harness" and p[0]["sender"] == "bob@localhost",
         "with_body/with_sender: body and the sender's bare JID")
    reg_b, _ = register(s, "bb22")
    time.sleep(0.1)
    for name in ("offline-encrypted-nobody.xml", "offline-normal-type.xml", "hibernate-chat-body.xml",
                 "full-hibernate-chat-body.xml"):
        r = publish_fixture(s, name, reg_b["node"], reg_b["secret"])
        t.is_(r.get("type") if r is not None else None, "result", "fixture %s gets a result" % name)
    rec.new(4)
    r = publish_fixture(s, "hibernate-presence-subscribe.xml", reg_b["node"], reg_b["secret"])
    t.is_(r.get("type") if r is not None else None, "result", "fixture hibernate-presence-subscribe gets a result")
    rec.new(0, 0.5)

    # IQ ids are echoed byte for byte.
    r = publish_fixture(s, "offline-chat-body.xml", reg_b["node"], reg_b["secret"], iq_id="a+b/c=d&e")
    t.ok(r is not None and r.get("id") == "a+b/c=d&e", "an id with + / = & is echoed exactly")
    t.ok(b"id='a+b/c=d&amp;e'" in s.raw, "on the wire as sent")

    # --- as other servers send them
    reg_c, _ = register(s, "cc33")
    n_c, s_c = reg_c["node"], reg_c["secret"]
    r = publish(s, n_c, summary(body="hey", count=None, ftype="submit"), secret=s_c)
    p = rec.new(token="cc33")
    t.ok(r.get("type") == "result" and p and p[0]["prio"] == "high" and p[0]["unread"] == -1,
         "type='submit' summary without message-count (ejabberd)")
    # No sleep to wait out the 2 s low-priority window: a push it holds
    # back comes as the trailing push, and rec.new() waits for it.
    r = publish(s, n_c, "", secret=s_c)
    p = rec.new(token="cc33")
    t.ok(r.get("type") == "result" and p and p[0]["prio"] == "low" and p[0]["kind"] == "wakeup",
         "a notification without a form is a low-priority wake-up")
    r = publish(s, n_c, "", item=False, frm="alice@localhost")
    t.is_(r.get("type"), "result", "a publish without an item, from the owner's bare JID (older servers)")
    rec.new(token="cc33")

    # --- forged and malformed
    r = publish(s, n_c, summary(body="x"), secret=s_c, frm="evil.example")
    t.is_(error_of(r)[:2], ("auth", "forbidden"), "another domain: auth/forbidden")
    r = publish(s, n_c, summary(body="x"), secret=s_c, frm="alice@localhost/phone")
    t.is_(error_of(r)[:2], ("auth", "forbidden"), "the owner's full JID: auth/forbidden")
    r = publish(s, n_c, summary(body="x"), secret=s_c, frm="mallory@localhost")
    t.is_(error_of(r)[:2], ("auth", "forbidden"), "another user's bare JID: auth/forbidden")
    r = publish(s, n_c, summary(body="x"), secret="wrong")
    t.is_(error_of(r)[:2], ("auth", "forbidden"), "a wrong secret: auth/forbidden")
    r = publish(s, "nonexistentnode", summary(body="x"))
    t.is_(error_of(r)[:2], ("cancel", "item-not-found"), "an unknown node: cancel/item-not-found")
    r = s.iq("<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish/></pubsub>")
    t.is_(error_of(r)[:2], ("modify", "bad-request"), "a publish without a node: modify/bad-request")
    r = publish(s, n_c, "<priority xmlns='tigase:push:priority:0'>urgent</priority>", secret=s_c)
    t.is_(error_of(r)[:2], ("modify", "bad-request"), "a malformed priority: modify/bad-request")
    t.ok(b"<error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>" in s.raw,
         "error elements are written in the stream's default namespace")
    t.ok(b"<error xmlns=" not in s.raw, "no error element carries a foreign xmlns")
    t.is_(rec.new(0, 0.3, token="cc33"), [], "nothing refused reached the provider")

    # --- provider outcomes
    def outcome(token, want, name):
        reg, _ = register(s, token)
        r = publish(s, reg["node"], summary(body="hello"), secret=reg["secret"])
        t.is_(error_of(r)[:2] if error_of(r) else r.get("type"), want, name)
        return reg

    reg_inv = outcome("invalid01", ("cancel", "item-not-found"), "an invalid token: cancel/item-not-found")
    r = publish(s, reg_inv["node"], summary(body="again"), secret=reg_inv["secret"])
    t.is_(error_of(r)[:2], ("cancel", "item-not-found"), "and the registration is gone")
    outcome("ratelimit01", ("wait", "resource-constraint"), "provider rate limit: wait/resource-constraint")
    t0 = time.time()
    outcome("temp01", ("wait", "internal-server-error"), "provider down: wait/internal-server-error")
    tries = len(rec.new(3, token="temp01"))
    t.ok(3 <= tries <= 9, "after retries with backoff inside the deadline (%d attempts)" % tries)
    t.ok(time.time() - t0 < 3, "within the deadline")
    outcome("flaky01", "result", "a temporary failure retried successfully: result")
    outcome("perm01", ("wait", "internal-server-error"), "a notification the provider refuses: a wait error, the device is fine")
    outcome("auth01", ("wait", "internal-server-error"), "provider authentication failure: a wait error")
    t0 = time.time()
    outcome("never01", ("wait", "remote-server-timeout"), "a provider that never answers: wait/remote-server-timeout")
    t.ok(1.3 < time.time() - t0 < 3, "after publish-deadline")
    rec.new(0, 0.3)

    # --- Tigase extensions
    reg_v, _ = register(s, "dd44", voip="ee55")
    r = publish(s, reg_v["node"], "<jingle xmlns='tigase:push:jingle:0' action='propose' sid='call1'>"
                "<media>audio</media></jingle>" + summary(body="call"), secret=reg_v["secret"])
    p = rec.new(token="ee55")
    t.ok(r.get("type") == "result" and p and p[0]["voip"] and p[0]["token"] == "ee55" and p[0]["kind"] == "call"
         and p[0].get("jingle_sid") == "call1", "a Jingle call goes to the VoIP token: %s" % p)
    r = publish(s, reg_v["node"], "<encrypted xmlns='tigase:push:encrypt:0' iv='aXY=' type='voip'>cGF5bG9hZA==</encrypted>",
                secret=reg_v["secret"])
    p = rec.new(token="ee55")
    t.ok(p and p[0]["voip"] and p[0]["encrypted"] == "cGF5bG9hZA==" and p[0]["iv"] == "aXY=",
         "an encrypted voip notification rings the VoIP token, payload untouched")
    # A dead VoIP token: only it is cleared, the call rings on the alert token.
    reg_dv, _ = register(s, "gg77", voip="invalid-v1")
    r = publish(s, reg_dv["node"], "<jingle xmlns='tigase:push:jingle:0' action='propose' sid='call2'>"
                "<media>audio</media></jingle>" + summary(body="call"), secret=reg_dv["secret"])
    pv = rec.new(token="invalid-v1")
    pa = rec.new(token="gg77")
    t.ok(r.get("type") == "result" and pv and pv[0]["voip"] and pa and not pa[0]["voip"] and pa[0]["kind"] == "call",
         "a dead VoIP token: the call goes on to the alert token, result (%s, %s)" % (pv, pa))
    t.is_(psql("select coalesce(voip_token, 'NULL') || ' ' || token from devices where node = '%s'" % reg_dv["node"]),
          "NULL gg77", "the VoIP token alone is cleared, the registration and its alert token stay")
    t.ok(d.wait_log(r"VoIP token of alice@localhost on apns-binary-api is no longer valid \(Unregistered\): "
                    r"cleared from registration %s, its alert token stays" % reg_dv["node"]),
         "the log says what happened and why")
    r = publish(s, reg_dv["node"], summary(body="after"), secret=reg_dv["secret"])
    t.is_(r.get("type"), "result", "the registration keeps working for messages")
    rec.new(token="gg77")
    # A dead alert token with a live VoIP token: the registration is useless for messages.
    reg_da, _ = register(s, "invalid-a2", voip="hh88")
    r = publish(s, reg_da["node"], summary(body="hi"), secret=reg_da["secret"])
    t.is_(error_of(r)[:2] if error_of(r) else None, ("cancel", "item-not-found"),
          "a dead alert token with a live VoIP token: cancel/item-not-found")
    # The answer does not wait for the DELETE to commit: wait for the row.
    t.ok(wait_until(lambda: psql("select count(*) from devices where node = '%s'" % reg_da["node"]) == "0"),
         "and the registration is deleted")
    t.ok(d.wait_log(r"device token of alice@localhost on apns-binary-api is no longer valid \(Unregistered\): "
                    r"registration %s had a VoIP token too: deleted" % reg_da["node"]),
         "the log says it had a VoIP token too")
    rec.new(token="invalid-a2")

    reg_e, _ = register(s, "ff66")
    r = publish(s, reg_e["node"], "<encrypted xmlns='tigase:push:encrypt:0' iv='aXY='>cGF5bG9hZA==</encrypted>",
                secret=reg_e["secret"])
    p = rec.new(token="ff66")
    t.ok(p and p[0]["prio"] == "high" and not p[0]["voip"] and p[0]["encryption"] is None if "encryption" in p[0] else p and p[0]["prio"] == "high",
         "an encrypted message is high priority")
    r = publish(s, reg_e["node"], "<priority xmlns='tigase:push:priority:0'>low</priority>" + summary(body="shh"),
                secret=reg_e["secret"])
    p = rec.new(token="ff66")
    t.ok(p and p[0]["prio"] == "low", "an explicit low priority wins over a body")
    r = publish(s, reg_e["node"], summary(body="in the room", sender="room@muc.localhost/bob") +
                "<groupchat xmlns='http://tigase.org/protocol/muc#offline'><nickname>bob</nickname></groupchat>",
                secret=reg_e["secret"])
    p = rec.new(token="ff66")
    t.ok(p and p[0]["kind"] == "groupchat" and p[0]["nickname"] == "bob", "a groupchat nickname is passed on")
    r = publish(s, reg_e["node"], "<account-removed xmlns='http://tigase.org/protocol/account#event'/>",
                secret=reg_e["secret"])
    t.is_(r.get("type"), "result", "an account-removed event gets a result")
    r = publish(s, reg_e["node"], summary(body="x"), secret=reg_e["secret"])
    t.is_(error_of(r)[:2], ("cancel", "item-not-found"), "and deletes the registration")
    rec.new(0, 0.3)

    # --- throttling (window 2 s, burst 3, 60 per minute)
    reg_t, _ = register(s, "ab01")
    for i in range(4):
        r = publish(s, reg_t["node"], summary(), secret=reg_t["secret"])
    t.is_(r.get("type"), "result", "coalesced low pushes are answered with a result")
    t.is_(len(rec.new(1, 0.5, token="ab01")), 1, "the first low push goes at once, the rest wait")
    p = rec.new(1, 3, token="ab01")
    t.is_(len(p), 1, "one trailing push after the window")
    reg_h, _ = register(s, "ab02")
    for i in range(5):
        publish(s, reg_h["node"], summary(body="m%d" % i), secret=reg_h["secret"])
    t.is_(len(rec.new(3, 0.5, token="ab02")), 3, "high pushes pass the bucket's burst of 3")
    p = rec.new(1, 2.5, token="ab02")
    t.ok(len(p) == 1 and p[0]["body"] == "m4", "then one trailing push carries the latest")

    # --- unregister and the admin commands
    r = command(s, "unregister-device", {"provider": "apns-binary-api", "device-token": "cc33"})
    t.is_(r.find("{%s}command" % CMD).get("status"), "completed", "unregister-device completes")
    r = publish(s, n_c, summary(body="x"), secret=s_c)
    t.is_(error_of(r)[:2], ("cancel", "item-not-found"), "an unregistered node is unknown")
    r = command(s, "unregister-device", {"provider": "apns-binary-api", "device-token": "cc33"})
    t.ok(error_of(r) and error_of(r)[:2] == ("cancel", "item-not-found") and "device-token" in text_of(r),
         "unregistering an unknown device: an IQ error cancel/item-not-found naming device-token")
    r = command(s, "unregister-device", {"provider": "apns-binary-api", "device-token": "aa11"},
                frm="mallory@localhost/x")
    t.ok(error_of(r) and error_of(r)[:2] == ("cancel", "item-not-found"), "nobody unregisters another user's device")
    r = command(s, "unregister-device", {"provider": "apns-binary-api"})
    t.ok(refusal(r) == ("modify", "bad-request", "bad-payload") and text_of(r).startswith("device-token: "),
         "unregister-device without a token: an IQ error naming device-token")
    r = publish_fixture(s, "offline-chat-body.xml", node, secret)
    t.ok(r is not None and (r.get("type") == "result"), "the owner's registration is still there")
    rec.new(0, 0.5)

    r = command(s, "get-statistics", {}, frm="admin@localhost/laptop")
    st = result_fields(r)
    t.ok(int(st.get("publishes-received", "0")) > 20 and "registrations-apns-binary-api" in st,
         "get-statistics for an admin: %s publishes, %s registrations" %
         (st.get("publishes-received"), st.get("registrations-apns-binary-api")))
    t.ok(int(st.get("apns-binary-api-invalid-token", "0")) >= 1 and int(st.get("pushes-coalesced", "0")) >= 3,
         "per-provider outcomes and coalesced pushes are counted")
    r = command(s, "list-devices", {"jid": "alice@localhost"}, frm="admin@localhost/laptop")
    items = r.findall(".//{%s}item" % XD)
    t.ok(len(items) >= 5, "list-devices lists alice's registrations (%d)" % len(items))
    r = command(s, "delete-devices", {"jid": "alice@localhost"}, frm="admin@localhost/laptop")
    t.ok(note_of(r) and re.match(r"\d+ registrations deleted", note_of(r)[1] or ""),
         "delete-devices: %s" % (note_of(r),))
    r = publish_fixture(s, "offline-chat-body.xml", node, secret)
    t.is_(error_of(r)[:2], ("cancel", "item-not-found"), "and they are gone")

    # --- many registrations at once
    ids = []
    for i in range(100):
        iq_id = "par%d" % i
        ids.append(iq_id)
        s.send("<iq type='set' id='%s' from='carol@localhost/r%d' to='push.localhost'>"
               "<command xmlns='%s' node='register-device' action='execute'>%s</command></iq>"
               % (iq_id, i, CMD, form_xml({"provider": "other", "device-token": "tok%03d" % i})))
    nodes = set()
    for iq_id in ids:
        r = s.wait_id(iq_id)
        f = result_fields(r)
        if f.get("node"):
            nodes.add(f["node"])
    t.is_(len(nodes), 100, "a hundred registrations in parallel, a hundred nodes")

    # --- configuration changes: require-secret, in-flight limit, removed provider
    d.write_conf(conf(s.port, rec.path, extra="'require-secret' = true\n'max-in-flight' = 3"))
    d.hup()
    t.ok(d.wait_log("configuration reloaded"), "SIGHUP reloads")
    reg_s, _ = register(s, "ab03")
    r = publish(s, reg_s["node"], summary(body="x"))
    t.is_(error_of(r)[:2], ("auth", "forbidden"), "require-secret: a publish without the secret is refused")
    r = publish(s, reg_s["node"], summary(body="x"), secret=reg_s["secret"])
    t.is_(r.get("type"), "result", "with it, accepted")
    nev = [register(s, "never%02d" % i)[0] for i in range(4)]
    pend = []
    for i, rg in enumerate(nev):
        iq_id = "inflight%d" % i
        s.send("<iq type='set' id='%s' from='localhost' to='push.localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'>"
               "<publish node='%s'><item><notification xmlns='urn:xmpp:push:0'/></item></publish>"
               "<publish-options><x xmlns='jabber:x:data' type='submit'><field var='secret'><value>%s</value></field></x>"
               "</publish-options></pubsub></iq>" % (iq_id, rg["node"], rg["secret"]))
        pend.append(iq_id)
    r = s.wait_id("inflight3")
    t.is_(error_of(r)[:2] if error_of(r) else None, ("wait", "resource-constraint"),
          "beyond max-in-flight: wait/resource-constraint")
    for iq_id in pend[:3]:
        r = s.wait_id(iq_id)
        t.is_(error_of(r)[:2] if error_of(r) else None, ("wait", "remote-server-timeout"),
              "the ones in flight time out with a wait error")
    rec.new(0, 0.3)

    reg_o, _ = register(s, "ab04", provider="other")
    d.write_conf(conf(s.port, rec.path, providers="'apns-binary-api' () { plugin = 'testprov'; 'record-file' = '%s' }" % rec.path))
    d.hup()
    t.ok(d.wait_log("configuration reloaded", count=2), "SIGHUP drops the 'other' provider")
    r = publish(s, reg_o["node"], summary(body="x"), secret=reg_o["secret"])
    t.is_(error_of(r)[:2], ("cancel", "item-not-found"), "a registration whose provider was removed: item-not-found")
    t.ok(d.wait_log("uses provider 'other', which is not configured"), "and a log line says why")

    # --- a stopped database: wait errors, nothing half-stored
    subprocess.run(["sh", "-c", ". \"$top_srcdir/test/lib/pg.sh\"; pg_stop_server"], check=False)
    r = command(s, "register-device", {"provider": "apns-binary-api", "device-token": "ab05"})
    t.is_(error_of(r)[:2] if error_of(r) else None, ("wait", "internal-server-error"),
          "register-device with PostgreSQL down: a wait error")
    r = publish(s, "neverseennode", summary(body="x"), secret="x")
    t.is_(error_of(r)[:2] if error_of(r) else None, ("wait", "internal-server-error"),
          "a publish for an uncached node with PostgreSQL down: a wait error")
    r = publish(s, reg_s["node"], summary(body="cached"), secret=reg_s["secret"])
    t.is_(r.get("type"), "result", "a cached registration still gets its push")
    subprocess.run(["sh", "-c", ". \"$top_srcdir/test/lib/pg.sh\"; pg_start_server"], check=False)
    t.ok(wait_until(lambda: register(s, "ab05")[0].get("node")), "after the restart registration works again")
    t.is_(psql("select count(*) from devices where token = 'ab05'"), "1",
          "exactly one row for the device registered during and after the outage")

    mass_deletion_guard(s, d, rec)
    finish_daemon(t, d)


def messages_to(s, who, pred):
    """Reads until a chat message to `who` whose body satisfies pred is
    queued (or the deadline passes); returns the bodies of those queued."""
    def found():
        return [m.findtext("{jabber:component:accept}body") or "" for m in s.stanzas
                if m.tag == "{jabber:component:accept}message" and m.get("to") == who]
    s._read_until(lambda: any(pred(b) for b in found()), DEADLINE)
    return found()


def http_json(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode())
    except (OSError, ValueError):
        return None, None


def mass_deletion_guard(s, d, rec):
    """A provider that calls every token invalid (a wrong topic looks like
    that) deletes at most deletion-guard-count registrations; the rest get
    wait errors and stay, /health names the provider, the admin is told,
    and SIGHUP resumes deletions.  The window (600 s) outlasts the test."""
    K, N = 30, 5
    hport = free_port()
    guard = ("'deletion-guard-count' = %d\n'deletion-guard-share' = 20\n'deletion-guard-window' = 600\n"
             "rest () { listen = '127.0.0.1:%d'; tls = false }" % (N, hport))
    provs = ("'apns-binary-api' () { plugin = 'testprov'; 'record-file' = '%s' }\n"
             "'wrongtopic' () { plugin = 'testprov'; 'record-file' = '%s' }" % (rec.path, rec.path))
    d.write_conf(conf(s.port, rec.path, extra=guard, providers=provs))
    d.hup()
    t.ok(d.wait_log("configuration reloaded", count=3), "SIGHUP adds a provider and the guard's settings")
    t.ok(wait_until(lambda: http_json(hport, "/health")[1] is not None), "/health answers")
    regs = [register(s, "invalid-g%02d" % i, provider="wrongtopic")[0] for i in range(K)]
    before = int(psql("select count(*) from devices where provider = 'wrongtopic'"))
    t.is_(before, K, "%d registrations on the provider" % K)
    answers = []
    for rg in regs:
        r = publish(s, rg["node"], summary(body="x"), secret=rg["secret"])
        answers.append(error_of(r)[:2] if error_of(r) else (r.get("type") if r is not None else None))
    after = int(psql("select count(*) from devices where provider = 'wrongtopic'"))
    kinds = {}
    for a in answers:
        kinds[a] = kinds.get(a, 0) + 1
    t.diag("mass-deletion guard: rows before %d, rows after %d; answers: %s" %
           (before, after, ", ".join("%s: %d" % ("/".join(k) if isinstance(k, tuple) else k, v)
                                     for k, v in sorted(kinds.items(), key=str))))
    t.is_(before - after, N, "at most deletion-guard-count (%d) registrations deleted" % N)
    t.ok(answers[:N] == [("cancel", "item-not-found")] * N, "the first %d answers: cancel/item-not-found" % N)
    t.ok(answers[N:] == [("wait", "internal-server-error")] * (K - N),
         "the other %d: wait/internal-server-error, rows kept" % (K - N))
    st, js = http_json(hport, "/health")
    why = (js or {}).get("providers", {}).get("wrongtopic", "")
    t.ok(st == 503 and "suspended" in why and "invalid" in why, "/health: 503, the provider unhealthy with the reason (%s)" % why)
    t.is_((js or {}).get("providers", {}).get("apns-binary-api"), "ok", "the other provider is fine")
    bodies = messages_to(s, "admin@localhost", lambda b: "'wrongtopic'" in b and "stopped deleting" in b)
    t.ok(any("'wrongtopic'" in b and "stopped deleting" in b for b in bodies),
         "the admin got a chat message about it: %s" % (bodies[:1],))
    t.ok(d.wait_log(r"provider wrongtopic: deleting registrations is suspended"), "and the log says so")
    r = publish(s, regs[-1]["node"], summary(body="x"), secret=regs[-1]["secret"])
    t.is_(error_of(r)[:2] if error_of(r) else None, ("wait", "internal-server-error"), "still held a moment later")
    # SIGHUP: a fresh guard, deletions resume.
    d.hup()
    t.ok(d.wait_log("configuration reloaded", count=4), "SIGHUP")
    t.ok(wait_until(lambda: (http_json(hport, "/health")[1] or {}).get("providers", {}).get("wrongtopic") == "ok"),
         "/health: the provider is fine again")
    r = publish(s, regs[-1]["node"], summary(body="x"), secret=regs[-1]["secret"])
    t.is_(error_of(r)[:2] if error_of(r) else None, ("cancel", "item-not-found"), "after SIGHUP a dead token deletes again")
    # The answer need not wait for the DELETE to commit: wait for the row.
    t.ok(wait_until(lambda: psql("select count(*) from devices where node = '%s'" % regs[-1]["node"]) == "0"),
         "its row is gone")
    # /metrics: deletions and held ones by provider and reason.
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % hport, timeout=10) as resp:
        text = resp.read().decode()

    def sample(name, **labels):
        want = "%s{%s}" % (name, ",".join('%s="%s"' % kv for kv in labels.items()))
        for line in text.splitlines():
            if line.startswith(want + " "):
                return float(line.split()[-1])
        return None
    rm = sample("xpushd_registrations_removed_by_reason_total", provider="wrongtopic", reason="Unregistered")
    held = sample("xpushd_deletions_held_total", provider="wrongtopic", reason="Unregistered")
    cleared = sample("xpushd_voip_tokens_cleared_total", provider="apns-binary-api", reason="Unregistered")
    gone = sample("xpushd_registrations_removed_by_reason_total", provider="apns-binary-api", reason="account removed")
    t.is_((rm, held, cleared, gone), (float(N + 1), float(K - N + 1), 1.0, 1.0),
          "/metrics by provider and reason: %s deleted, %s held (wrongtopic), 1 VoIP token cleared, "
          "1 account removed (apns-binary-api)" % (rm, held))
    rec.new(0, 0.3)


main()
sys.exit(t.done())
