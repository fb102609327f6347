#!/usr/bin/python3
"""xpushctl(8): every subcommand against a throwaway PostgreSQL
(XPUSHD_TEST_DB_URI, see test/integration/ctl_test.sh) and, for what needs
the live daemon, xpushd itself on the fake XMPP server with testprov.so
and apns.so.  JSON output is checked field by field; wrong configuration,
unreachable database, missing schema and unknown names give the exit
codes xpushctl(8) documents.  A deletion made with xpushctl reaches the
running daemon's node cache (NOTIFY), and a certificate stored with it
makes the daemon's APNs provider usable.  TAP."""
import base64
import json
import os
import re
import subprocess
import tempfile

from xptest import (Tap, top_srcdir, top_builddir, MIGRATIONS, SECRET, db_uri,
                    free_port, finish_daemon, wait_until)
from fakexmpp import FakeServer, Daemon, command, error_of

t = Tap()
DB = db_uri()
XPUSHCTL = os.path.join(top_builddir, "xpushctl")
# Exit codes, as xpushctl(8) EXIT STATUS lists them.
OK, NOTFOUND, USAGE, CONFIG, DATABASE, DAEMON, FAILED = 0, 1, 2, 3, 4, 5, 6


def ctl(conf, *args):
    """(exit code, stdout, stderr) of xpushctl -c conf args; a sanitizer
    report fails the test that ran it."""
    r = subprocess.run([XPUSHCTL, "-c", conf] + list(args), capture_output=True, text=True,
                       timeout=120)
    if "Sanitizer" in r.stderr or "runtime error:" in r.stderr:
        t.ok(False, "no sanitizer report from xpushctl %s" % " ".join(args))
        t.diag(r.stderr[-3000:])
    return r.returncode, r.stdout, r.stderr


def ctlj(conf, *args):
    """(exit code, parsed --json output or None, stderr)."""
    rc, out, err = ctl(conf, "--json", *args)
    try:
        return rc, json.loads(out), err
    except ValueError:
        return rc, None, err


def expect(got, rc, words, name):
    """got = (rc, out, err): the exit code and the words in stderr."""
    ok = got[0] == rc and all(w in got[2] for w in words)
    t.ok(ok, "%s: exit %d naming %s" % (name, rc, ", ".join(repr(w) for w in words)))
    if not ok:
        t.diag("exit %r, stderr %r" % (got[0], got[2]))


def psql(sql):
    r = subprocess.run(["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", DB, "-c", sql],
                       capture_output=True, text=True)
    return r.stdout.strip()


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True)


def register(s, token, frm):
    return command(s, "register-device", {"provider": "tp", "device-token": token}, frm=frm)


def publish(s, node, secret):
    po = ("<publish-options><x xmlns='jabber:x:data' type='submit'>"
          "<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
          "<field var='secret'><value>%s</value></field></x></publish-options>" % secret)
    return s.iq("<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='%s'><item>"
                "<notification xmlns='urn:xmpp:push:0'/></item></publish>%s</pubsub>" % (node, po))


def conf_text(xport, rest, mods, db=DB, extra=""):
    return """
'module-path' = '%s'
'low-priority-window' = 0
'cert-expiry-warning' = 7
xmpp () { jid = 'push.localhost'; port = %d; secret = '%s'; 'reconnect-max' = 1 }
database () { uri = '%s'; migrations = '%s' }
push () {
    'tp' () { plugin = 'testprov' }
    'apns-prod' () { plugin = 'apns'; 'apns-topic' = 'com.example.app'; endpoint = '127.0.0.1:1' }
%s}
%s
""" % (mods, xport, SECRET, db, MIGRATIONS, extra, rest)


def b64url(raw):
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def main():
    work = tempfile.mkdtemp(prefix="xpushd-ctl-")
    certs = os.path.join(work, "certs")
    subprocess.run(["sh", os.path.join(top_srcdir, "test", "lib", "apns_certs.sh"), certs],
                   check=True, capture_output=True)
    # One module directory for testprov.so and apns.so.
    mods = os.path.join(work, "mods")
    os.mkdir(mods)
    for d, name in (("test/plugins", "testprov.so"), ("plugins", "apns.so")):
        os.symlink(os.path.join(os.path.abspath(top_builddir), d, ".libs", name), os.path.join(mods, name))
    key, crt = os.path.join(work, "rest.key"), os.path.join(work, "rest.pem")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=localhost")
    rport = free_port()
    rest = "rest () { listen = '127.0.0.1:%d'; 'tls-cert' = '%s'; 'tls-key' = '%s' }" % (rport, crt, key)
    s = FakeServer()
    d = Daemon(conf_text(s.port, rest, mods), top_builddir)
    conf = d.conf

    def write(name, text):
        p = os.path.join(work, name)
        with open(p, "w") as f:
            f.write(text)
        return p

    # --- the manual: every command of xpushctl -h has its entry and an example
    r = subprocess.run([XPUSHCTL, "-h"], capture_output=True, text=True)
    names = re.findall(r"^  ([a-z-]+) ", r.stdout, re.M)
    with open(os.path.join(top_srcdir, "man", "xpushctl.8")) as f:
        page = f.read()
    t.ok(r.returncode == 0 and len(names) >= 10, "xpushctl -h lists the commands (%s)" % " ".join(names))
    for n in names:
        t.ok(re.search(r"^\.It Cm %s\b" % re.escape(n), page, re.M) and
             re.search(r"^# xpushctl .*\b%s\b" % re.escape(n), page, re.M),
             "xpushctl(8) describes %s and shows an example" % n)
    documented = set(re.findall(r"^\.It Cm ([a-z-]+)", page, re.M))
    t.is_(sorted(documented - set(names)), [], "xpushctl(8) describes no command xpushctl lacks")
    codes = re.findall(r"^\.It (\d+)$", page, re.M)
    t.is_(codes, [str(i) for i in range(7)], "xpushctl(8) lists the exit codes 0 to 6")

    # --- usage, configuration, database
    expect(ctl(conf), USAGE, ["usage"], "no command")
    expect(ctl(conf, "frobnicate"), USAGE, ["unknown command 'frobnicate'"], "an unknown command")
    expect(ctl(conf, "show"), USAGE, ["usage: xpushctl show NODE"], "show without a node")
    expect(ctl(conf, "list", "colour", "red"), USAGE, ["usage: xpushctl list"], "list by an unknown key")
    expect(ctl(conf, "errors", "0"), USAGE, ["COUNT is a number"], "errors 0")
    expect(ctl(os.path.join(work, "nonexistent.conf"), "list"), CONFIG, ["nonexistent.conf"],
           "a configuration file that is not there")
    broken = write("broken.conf", "xmpp () {\n  jid = \n}\n")
    expect(ctl(broken, "list"), CONFIG, ["broken.conf:"], "a configuration with a syntax error")
    down = write("down.conf", conf_text(s.port, rest, mods,
                                        db="postgresql://xpushd@127.0.0.1:%d/xpushd" % free_port()))
    for args in (["list"], ["show", "x"], ["delete", "node", "x"], ["stats"], ["cert", "show"], ["migrate"]):
        expect(ctl(down, *args), DATABASE, ["cannot connect to the database", "database.uri"],
               "unreachable database: xpushctl %s" % " ".join(args))
    expect(ctl(conf, "list"), DATABASE, ["no xpushd schema", "migrate"], "a database without the schema")

    # --- migrate
    files = sorted(f for f in os.listdir(MIGRATIONS) if f.endswith(".sql"))
    newest = int(files[-1].split("-")[0])
    rc, js, err = ctlj(conf, "migrate")
    t.is_((rc, js), (OK, {"applied": len(files), "version": newest}),
          "migrate: every migration applied, the schema at version %d" % newest)
    rc, out, err = ctl(conf, "migrate")
    t.is_((rc, out), (OK, "0 migrations applied, the schema is at version %d\n" % newest),
          "migrate again: nothing to do, said in words")
    t.is_(psql("select count(*) from xpushd_schema_version"), str(len(files)), "one version row per file")

    # --- check-config
    rc, js, err = ctlj(conf, "check-config")
    t.is_((rc, js), (OK, {"file": conf, "result": "ok"}), "check-config: the configuration is OK")
    badkey = write("badkey.conf", conf_text(s.port, rest, mods, extra="    'x' () { plugin = 'testprov'; colour = 'red' }\n"))
    expect(ctl(badkey, "check-config"), CONFIG, ["unknown key 'colour'", "badkey.conf:"],
           "check-config loads the modules: an unknown key of a provider block")
    nomod = write("nomod.conf", conf_text(s.port, rest, mods, extra="    'x' () { plugin = 'nosuchmodule' }\n"))
    expect(ctl(nomod, "check-config"), CONFIG, ["nosuchmodule"], "check-config: a module that is not there")

    # --- status before the daemon runs
    expect(ctl(conf, "status"), DAEMON, ["cannot reach xpushd at https://127.0.0.1:%d/health" % rport],
           "status without a running daemon")
    norest = write("norest.conf", conf_text(s.port, "", mods))
    expect(ctl(norest, "status"), CONFIG, ["has no rest block"], "status without a rest block")

    d.start()
    s.accept(SECRET)
    t.ok(s.ping(), "xpushd is connected to the fake server")

    # --- status: the APNs provider has no certificate yet
    def status():
        return ctlj(conf, "status")
    rc, js, err = wait_until(lambda: (lambda r: r if r[1] and r[1].get("database") == "up" else None)(status())) \
        or status()
    t.is_(rc, FAILED, "status: exit 6 while a provider is unusable")
    js = js or {}
    t.is_((js.get("status"), js.get("xmpp"), js.get("database")), ("unavailable", "ready", "up"),
          "status --json: status, xmpp, database")
    provs = js.get("providers", {})
    t.ok(provs.get("tp") == "ok" and provs.get("apns-prod") not in (None, "ok"),
         "status --json: tp ok, apns-prod unusable (%s)" % provs.get("apns-prod"))
    t.ok(any("apns-prod" in p for p in js.get("problems", [])), "status --json: the problem names apns-prod")
    # Another key than the daemon's: the pin refuses the answer.
    okey, ocrt = os.path.join(work, "other.key"), os.path.join(work, "other.pem")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", okey, "-out", ocrt, "-days", "2", "-subj", "/CN=localhost")
    other = write("other.conf", conf_text(s.port, rest.replace(crt, ocrt).replace(key, okey), mods))
    expect(ctl(other, "status"), DAEMON, ["cannot reach xpushd", "public key", "rest.tls-cert"],
           "status: a server whose key is not rest.tls-cert's is not believed")
    rc, out, err = ctl(conf, "status")
    t.ok(rc == FAILED and "status     unavailable" in out and "provider   tp: ok" in out
         and "xpushd reports problems" in err, "status in words")

    # --- registrations made over XMPP
    a1 = register(s, "aaaa01", "alice@localhost/phone")
    a2 = register(s, "perm01", "alice@localhost/tablet")
    b1 = register(s, "bbbb01", "Bob@LOCALHOST/x")
    t.ok(a1.get("node") and a2.get("node") and b1.get("node"), "three devices registered over XMPP")

    rc, js, err = ctlj(conf, "list")
    regs = (js or {}).get("registrations", [])
    t.is_((rc, len(regs), (js or {}).get("truncated")), (OK, 3, False), "list: all three")
    r = [x for x in regs if x["token"] == "aaaa01"]
    r = r[0] if r else {}
    t.is_((r.get("account"), r.get("provider"), r.get("node"), r.get("voip_token"), r.get("last_push"),
           r.get("last_error"), r.get("last_error_text")),
          ("alice@localhost", "tp", a1["node"], None, None, None, None), "list --json: the fields of a row")
    t.ok(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", r.get("created") or "") and r.get("updated"),
         "list --json: created and updated in ISO 8601 UTC")
    t.ok("secret" not in r and a1.get("secret") not in json.dumps(js), "the publish secret is never shown")
    rc, js, err = ctlj(conf, "list", "account", "Alice@LOCALHOST")
    t.is_((rc, sorted(x["token"] for x in js["registrations"])), (OK, ["aaaa01", "perm01"]),
          "list account: normalised like the daemon's JIDs")
    rc, js, err = ctlj(conf, "list", "token", "bbbb")
    t.is_([(x["account"], x["node"]) for x in js["registrations"]], [("bob@localhost", b1["node"])],
          "list token PREFIX")
    rc, js, err = ctlj(conf, "list", "node", a2["node"][:6])
    t.ok(rc == OK and a2["node"] in [x["node"] for x in js["registrations"]], "list node PREFIX")
    rc, js, err = ctlj(conf, "list", "account", "nobody@localhost")
    t.is_((rc, js), (OK, {"registrations": [], "truncated": False}), "list: nothing found is not an error")
    expect(ctl(conf, "list", "account", "localhost"), USAGE, ["is not an account"], "list account with a domain")
    rc, out, err = ctl(conf, "list")
    t.ok(rc == OK and out.startswith("ACCOUNT") and "3 registrations\n" in out and "aaaa01" in out,
         "list in words: a table")

    rc, js, err = ctlj(conf, "show", b1["node"])
    t.is_((rc, js.get("account"), js.get("provider"), js.get("token"), js.get("node")),
          (OK, "bob@localhost", "tp", "bbbb01", b1["node"]), "show NODE --json")
    t.is_(sorted(js), sorted(["account", "provider", "token", "voip_token", "node", "created", "updated",
                              "last_push", "last_error", "last_error_text"]), "show --json: exactly these keys")
    expect(ctl(conf, "show", "no-such-node"), NOTFOUND, ["no registration has the node 'no-such-node'"],
           "show: an unknown node")

    # --- errors and stats: testprov answers perm... with a permanent error
    r = publish(s, a2["node"], a2["secret"])
    t.ok(r is not None, "a publish to the perm01 device is answered")

    def errors():
        rc, js, err = ctlj(conf, "errors")
        return js if js and js.get("errors") else None
    js = wait_until(errors) or {}
    e = js.get("errors", [{}])[0]
    t.ok(e.get("node") == a2["node"] and e.get("account") == "alice@localhost" and e.get("last_error")
         and e.get("last_error_text"), "errors --json: the device's last error (%s)" % e.get("last_error_text"))
    rc, out, err = ctl(conf, "errors", "1")
    t.ok(rc == OK and len(out.splitlines()) == 1 and a2["node"] in out, "errors COUNT, in words")
    rc, js, err = ctlj(conf, "stats")
    bypro = {p["provider"]: p for p in (js or {}).get("providers", [])}
    t.is_((rc, js.get("registrations"), js.get("with_error")), (OK, 3, 1), "stats --json: totals")
    t.is_(bypro.get("tp"), {"provider": "tp", "registrations": 3, "with_error": 1, "configured": True},
          "stats --json: per provider")
    t.is_(bypro.get("apns-prod"), {"provider": "apns-prod", "registrations": 0, "with_error": 0,
                                   "configured": True}, "stats --json: a configured provider with none")
    rc, out, err = ctl(conf, "stats")
    t.ok(rc == OK and re.search(r"^tp +3 +1 yes$", out, re.M), "stats in words")

    # --- delete reaches the running daemon's cache
    r = publish(s, a1["node"], a1["secret"])
    t.ok(r is not None and r.get("type") == "result", "a publish to aaaa01 succeeds (its node is cached)")
    rc, js, err = ctlj(conf, "delete", "node", a1["node"])
    t.is_((rc, js), (OK, {"deleted": 1}), "delete node --json")
    t.is_(psql("select count(*) from devices where token = 'aaaa01'"), "0", "the row is gone")
    r = wait_until(lambda: (lambda x: x if error_of(x) else None)(publish(s, a1["node"], a1["secret"])))
    t.is_(error_of(r)[:2] if r is not None else None, ("cancel", "item-not-found"),
          "the daemon forgot the node: item-not-found")
    expect(ctl(conf, "delete", "node", a1["node"]), NOTFOUND, ["no registration has the node"],
           "delete an unknown node")
    rc, out, err = ctl(conf, "delete", "account", "BOB@localhost")
    t.is_((rc, out), (OK, "1 registration deleted\n"), "delete account, in words")
    expect(ctl(conf, "delete", "account", "bob@localhost"), NOTFOUND, ["no registration of the account"],
           "delete an account with none left")
    expect(ctl(conf, "delete", "device", "x"), USAGE, ["usage: xpushctl delete"], "delete by an unknown key")

    # --- certificates
    rc, js, err = ctlj(conf, "cert", "show")
    t.is_((rc, js), (OK, {"certificates": [], "expiry_warning_days": 7}), "cert show: none stored")
    c = lambda n: os.path.join(certs, n)  # noqa: E731
    pw = write("pw", "secret\n")
    expect(ctl(conf, "cert", "set", "tp", c("client.pem")), FAILED, ["'tp' is not an APNs provider"],
           "cert set: a provider that takes no certificate")
    expect(ctl(conf, "cert", "set", "nosuch", c("client.pem")), NOTFOUND, ["no provider 'nosuch'"],
           "cert set: a provider that is not configured")
    expect(ctl(conf, "cert", "set", "apns-prod", c("expired.pem"), c("expired.key")), FAILED,
           ["expired on 2021"], "cert set: an expired certificate is refused")
    expect(ctl(conf, "cert", "set", "apns-prod", c("client.p12")), FAILED, ["password"],
           "cert set: a PKCS#12 file without its password")
    expect(ctl(conf, "cert", "set", "apns-prod", c("client.pem"), c("other-client.key")), FAILED,
           ["does not match"], "cert set: a key of another certificate")
    expect(ctl(conf, "cert", "set", "apns-prod", c("nothere.pem")), NOTFOUND, ["nothere.pem"],
           "cert set: a file that is not there")
    t.is_(psql("select count(*) from certificates"), "0", "nothing refused was stored")
    rc, js, err = ctlj(conf, "cert", "set", "-P", pw, "apns-prod", c("client.p12"))
    t.ok(rc == OK and js.get("provider") == "apns-prod" and "CN=" in (js.get("subject") or "")
         and js.get("days_left") in (28, 29, 30) and re.match(r"^\d{4}-", js.get("not_after") or ""),
         "cert set -P FILE a .p12: subject, expiry, days left (%s)" % json.dumps(js))
    t.is_(psql("select pkcs12 is not null, password, cert_pem is null from certificates "
               "where provider = 'apns-prod'"), "t|secret|t", "stored as PKCS#12 with its password")
    rc, js, err = wait_until(lambda: (lambda r: r if r[0] == OK else None)(status())) or status()
    t.is_((rc, js.get("status") if js else None), (OK, "ok"),
          "status: ok once the daemon heard of the certificate (NOTIFY)")
    rc, out, err = ctl(conf, "status")
    t.ok(rc == OK and "status     ok" in out and "provider   apns-prod: ok" in out, "status in words, healthy")
    rc, js, err = ctlj(conf, "cert", "set", "apns-prod", c("client-combined.pem"))
    t.ok(rc == OK and "CN=" in (js.get("subject") or ""), "cert set: one PEM file with certificate and key")
    b64 = write("client.p12.b64", base64.b64encode(open(c("client.p12"), "rb").read()).decode() + "\n")
    rc, js, err = ctlj(conf, "cert", "set", "-P", pw, "apns-prod", b64)
    t.ok(rc == OK and "CN=" in (js.get("subject") or ""),
         "cert set: base64 PKCS#12, as set-apns-certificate takes it")
    rc, out, err = ctl(conf, "cert", "set", "apns-prod", c("client.pem"), c("client.key"))
    t.ok(rc == OK and out.startswith("stored the certificate of apns-prod: "), "cert set CERT KEY: PEM, in words")
    rc, js, err = ctlj(conf, "cert", "show", "apns-prod")
    cs = (js or {}).get("certificates", [{}])
    t.ok(rc == OK and len(cs) == 1 and cs[0].get("format") == "pem" and cs[0].get("status") == "ok"
         and cs[0].get("error") is None and "CN=" in (cs[0].get("subject") or "") and cs[0].get("updated"),
         "cert show PROVIDER --json")
    # As certwatch_test does: set-apns-certificate would refuse it.
    exp = open(c("expired.pem")).read().replace("'", "''")
    ek = open(c("expired.key")).read().replace("'", "''")
    psql("insert into certificates (provider, cert_pem, key_pem, not_after) values "
         "('apns-old', '%s', '%s', '2021-01-01')" % (exp, ek))
    rc, js, err = ctlj(conf, "cert", "check")
    st = {x["provider"]: x for x in (js or {}).get("certificates", [])}
    t.is_(rc, FAILED, "cert check: exit 6 with an expired certificate stored")
    t.ok(st.get("apns-old", {}).get("status") == "expired" and "expired" in (st["apns-old"].get("error") or "")
         and st["apns-old"].get("days_left", 0) < 0, "cert check --json: apns-old expired")
    t.is_(st.get("apns-prod", {}).get("status"), "ok", "cert check --json: apns-prod ok")
    rc, js, err = ctlj(conf, "cert", "check", "apns-prod")
    t.is_(rc, OK, "cert check PROVIDER: a good one")
    rc, out, err = ctl(conf, "cert", "show")
    t.ok(rc == OK and "apns-old: expired (pem)" in out and "apns-prod: ok (pem)" in out,
         "cert show in words; show does not fail on an expired certificate")
    warn = write("warn.conf", conf_text(s.port, rest, mods).replace("'cert-expiry-warning' = 7",
                                                                      "'cert-expiry-warning' = 60"))
    rc, js, err = ctlj(warn, "cert", "check", "apns-prod")
    t.is_((rc, js["certificates"][0]["status"]), (FAILED, "expiring"),
          "cert check: expiring within cert-expiry-warning days")
    expect(ctl(conf, "cert", "show", "nosuch"), NOTFOUND, ["no certificate is stored for 'nosuch'"],
           "cert show: an unknown provider")
    expect(ctl(conf, "cert", "frob"), USAGE, ["unknown cert command"], "cert: an unknown subcommand")

    finish_daemon(t, d)

    # --- vapid-key
    vk = os.path.join(work, "vapid.pem")
    openssl("ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", vk)
    der = subprocess.run(["openssl", "ec", "-in", vk, "-pubout", "-outform", "DER"],
                         capture_output=True, check=True).stdout
    want = b64url(der[-65:])
    rsa = os.path.join(work, "rsa.pem")
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", rsa)
    web = write("web.conf", conf_text(s.port, rest, mods, extra=(
        "    'web' () { plugin = 'webpush'; 'vapid-key-file' = '%s'; 'vapid-subject' = 'mailto:a@b' }\n"
        "    'web-rsa' () { plugin = 'webpush'; 'vapid-key-file' = '%s'; 'vapid-subject' = 'mailto:a@b' }\n"
        "    'web-none' () { plugin = 'webpush'; 'vapid-key-file' = '%s'; 'vapid-subject' = 'mailto:a@b' }\n")
        % (vk, rsa, os.path.join(work, "absent.pem"))))
    rc, out, err = ctl(web, "vapid-key", "web")
    t.is_((rc, out), (OK, want + "\n"), "vapid-key: the uncompressed point, base64url (as openssl ec says)")
    rc, js, err = ctlj(web, "vapid-key", "web")
    t.is_((rc, js), (OK, {"keys": [{"provider": "web", "key_file": vk, "public_key": want}]}),
          "vapid-key --json")
    expect(ctl(web, "vapid-key", "web-rsa"), CONFIG, ["no PEM P-256 private key"], "vapid-key: an RSA key")
    expect(ctl(web, "vapid-key", "web-none"), NOTFOUND, ["absent.pem", "xpushd-vapid -g"],
           "vapid-key: no key file")
    expect(ctl(web, "vapid-key", "tp"), NOTFOUND, ["no webpush provider 'tp'"], "vapid-key: not a webpush block")
    expect(ctl(conf, "vapid-key"), NOTFOUND, ["no webpush provider"], "vapid-key: no webpush block at all")
    t.done()


main()
