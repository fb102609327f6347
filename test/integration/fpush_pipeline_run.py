#!/usr/bin/python3
"""The fpush dialect (Monal, Quicksy) in the publish pipeline, through a
real component connection, a real PostgreSQL (XPUSHD_TEST_DB_URI, see
test/integration/fpush_pipeline_test.sh) and the test provider module
(testprov.so, which records each push and answers by token prefix), where
fpush_test.sh cannot reach: throttling per token, the mass-deletion guard
left alone by dead fpush tokens, transient failures, the publisher.

A publish is what Prosody's mod_cloud_notify sends for Monal's enable
(Monal/Classes/XMPPIQ.m, setPushEnableWithNode): node = the device token,
publish-options with FORM_TYPE and pushModule.  fpush's answers follow
fpush/src/xmpp/message_loop.rs, handle_push_result.  TAP output."""
import json
import os
import sys
import time
import urllib.request

from xptest import (Tap, top_builddir, MODULE_PATH, MIGRATIONS, SECRET, CMD, XD, DEADLINE,
                    db_uri, finish_daemon, free_port, wait_until)
from fakexmpp import FakeServer, Daemon, error_of

t = Tap()
DB = db_uri()
GUARD_COUNT = 2     # deletion-guard-count: fpush's dead tokens must not trip it
BURST = 3           # high-priority-burst
# A held push waits 10 s (high-priority-rate 6 a minute, low-priority-window
# 10 s): the checks that it has not gone yet have that much slack on a busy
# machine, and the waits for it end as soon as it went.
RATE = 6
LOW_WINDOW = 10


def conf(port, record, hport):
    return """
admins = [ 'admin@localhost' ]
'module-path' = '%s'
'publish-deadline' = 1500
'low-priority-window' = %d
'high-priority-burst' = %d
'high-priority-rate' = %d
'deletion-guard-count' = %d
'deletion-guard-share' = 20
'deletion-guard-window' = 600
xmpp () { jid = 'push.localhost'; port = %d; secret = '%s' }
database () { uri = '%s'; migrations = '%s' }
rest () { listen = '127.0.0.1:%d'; tls = false }
push () {
    'monal' () {
        plugin = 'testprov'
        'record-file' = '%s'
        'fpush-modules' = [ 'monalProdiOS', 'monalProdCatalyst' ]
        'fpush-default' = 'monalProdiOS'
    }
}
""" % (MODULE_PATH, LOW_WINDOW, BURST, RATE, GUARD_COUNT, port, SECRET, DB, MIGRATIONS, hport, record)


def summary(body=None):
    f = ("<x xmlns='jabber:x:data' type='form'><field var='FORM_TYPE'><value>urn:xmpp:push:summary</value></field>"
         "<field var='message-count'><value>1</value></field>")
    if body is not None:
        f += "<field var='last-message-body'><value>%s</value></field>" % body
    return f + "</x>"


def fpublish(s, token, module="monalProdiOS", notification=None, frm="localhost"):
    """A publish to node = token with Monal's publish-options; module None:
    none (fpush's default module)."""
    po = ""
    if module is not None:
        po = ("<publish-options><x xmlns='jabber:x:data' type='submit'>"
              "<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
              "<field var='pushModule'><value>%s</value></field></x></publish-options>" % module)
    n = notification if notification is not None else summary("hi")
    return s.iq("<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='%s'><item>"
                "<notification xmlns='urn:xmpp:push:0'>%s</notification></item></publish>%s</pubsub>"
                % (token, n, po), frm=frm)


def answer(r):
    e = error_of(r)
    return e[:2] if e else (r.get("type") if r is not None else None)


class Record:
    """The pushes testprov recorded, by token."""

    def __init__(self, path):
        self.path = path

    def to(self, token):
        if not os.path.exists(self.path):
            return []
        with open(self.path) as f:
            return [p for p in map(json.loads, f.read().splitlines()) if p.get("token") == token]

    def wait(self, token, n, timeout=DEADLINE):
        return wait_until(lambda: len(self.to(token)) >= n, timeout)


def http(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
        return r.read().decode()


def main():
    s = FakeServer()
    d = Daemon("", top_builddir)
    hport = free_port()
    rec = Record(os.path.join(d.dir, "pushes.jsonl"))
    d.write_conf(conf(s.port, rec.path, hport))
    m = d.migrate()
    t.ok(m.returncode == 0, "xpushd --migrate prepares the database")
    d.start()
    s.accept(SECRET)
    t.ok(s.ping(), "xpushd connects")

    # --- The push: the block of the module, the token, the fpush profile
    t.is_(answer(fpublish(s, "aa01")), "result", "a publish with pushModule monalProdiOS: result")
    p = rec.to("aa01")
    t.ok(len(p) == 1 and p[0]["provider"] == "monal" and p[0]["profile"] == 2 and "account" not in p[0],
         "pushed through block monal, profile fpush, no account: %s" % p)
    t.is_(answer(fpublish(s, "aa01", frm="elsewhere.example")), "result",
          "any server may publish: the token is the credential, as with fpush")
    t.is_(answer(fpublish(s, "aa03", module=None)), "result", "no pushModule: the default module")
    t.ok(rec.wait("aa03", 1), "pushed")

    # --- Throttling per token (node = token): high-priority-burst
    for i in range(BURST):
        fpublish(s, "bb01")
    t.is_(len(rec.to("bb01")), BURST, "%d pushes to one token go out at once (the burst)" % BURST)
    t.is_(answer(fpublish(s, "bb01")), "result", "the next one is held: answered with a result")
    t.is_(len(rec.to("bb01")), BURST, "and not pushed yet")
    t.is_(answer(fpublish(s, "bb02")), "result", "another token meanwhile")
    t.is_(len(rec.to("bb02")), 1, "is pushed at once: the throttle is per token")
    t.ok(rec.wait("bb01", BURST + 1), "the held push goes out later (high-priority-rate)")
    # Low priority: one per low-priority-window, the latest trailing.
    t.is_(answer(fpublish(s, "cc01", notification=summary())), "result", "a wake-up without a body")
    t.is_(answer(fpublish(s, "cc01", notification=summary())), "result", "another at once")
    t.is_(len(rec.to("cc01")), 1, "one low-priority push per window")
    t.ok(rec.wait("cc01", 2), "and the trailing one after it")

    # --- Refusals: cancel/bad-request, as fpush answers an unknown module
    r = fpublish(s, "aa01", module="monalBogus")
    e = error_of(r)
    t.ok(e is not None and e[:2] == ("cancel", "bad-request") and "unknown pushModule 'monalBogus'" in (e[2] or ""),
         "an unknown pushModule: cancel/bad-request, saying which: %s" % (e,))
    r = fpublish(s, "refuse-me")
    e = error_of(r)
    t.ok(e is not None and e[:2] == ("cancel", "bad-request") and "refused" in (e[2] or ""),
         "a node the module's token check refuses: cancel/bad-request with its reason: %s" % (e,))
    t.is_(len(rec.to("refuse-me")), 0, "and nothing is pushed")

    # --- Dead tokens: cancel/policy-violation, the guard does not count them
    answers = [answer(fpublish(s, "invalid-%02d" % i)) for i in range(3 * GUARD_COUNT)]
    t.ok(answers == [("cancel", "policy-violation")] * (3 * GUARD_COUNT),
         "%d dead tokens: cancel/policy-violation each: %s" % (3 * GUARD_COUNT, answers))
    health = json.loads(http(hport, "/health"))
    t.is_(health.get("providers", {}).get("monal"), "ok",
          "more dead fpush tokens than deletion-guard-count (%d): the guard stays open" % GUARD_COUNT)
    t.is_(answer(fpublish(s, "invalid-00")), ("cancel", "policy-violation"),
          "a dead token again: asked again, answered the same (nothing was stored to delete)")

    # --- Transient trouble stays wait
    t.is_(answer(fpublish(s, "temp-01")), ("wait", "internal-server-error"),
          "a provider that stays unavailable: wait/internal-server-error")
    t.is_(answer(fpublish(s, "ratelimit-01")), ("wait", "resource-constraint"),
          "a rate-limited token: wait/resource-constraint")
    t.is_(answer(fpublish(s, "aa01", notification="<account-removed xmlns='http://tigase.org/protocol/account#event'/>")),
          "result", "an account-removed event for an fpush node: a result, nothing to remove")

    # --- Statistics: nothing was registered, nothing removed
    st = {}
    r = s.iq("<command xmlns='%s' node='get-statistics' action='execute'/>" % CMD, frm="admin@localhost/x")
    for f in r.iter("{%s}field" % XD) if r is not None else []:
        st[f.get("var")] = f.findtext("{%s}value" % XD)
    t.ok(st.get("registrations-removed") in ("0", None), "no registration removed: %s" % st.get("registrations-removed"))
    metrics = http(hport, "/metrics")
    t.ok("xpushd_deletions_held_total{" not in metrics and "xpushd_registrations_removed_by_reason_total{" not in metrics,
         "/metrics: no deletion and no held deletion")
    want = 'xpushd_dead_tokens_unregistered_total{provider="monal",reason="Unregistered"} %d' % (3 * GUARD_COUNT + 1)
    t.ok(want in metrics.splitlines(), "/metrics: %s" % want)
    finish_daemon(t, d)


main()
sys.exit(t.done())
