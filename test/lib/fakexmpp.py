"""A scripted XMPP server side of a XEP-0114 component connection, for
tests: it accepts xpushd's connection, checks the handshake and then sends
stanzas and reads the answers, parsed with an incremental XML parser."""
import ctypes
import hashlib
import itertools
import os
import re
import socket
import subprocess
import tempfile
import signal
import time
import xml.etree.ElementTree as ET

from xptest import CMD, DEADLINE, XD, wait_until

PR_SET_PDEATHSIG = 1


def _die_with_parent():
    # A daemon left behind by a test that was killed would keep running,
    # and hold the pipe of the TAP driver open: make -j then waits forever.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn_daemon(argv, log):
    """xpushd under a test: its log to `log`, nothing on the TAP stream,
    and it dies with the test process."""
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=log, preexec_fn=_die_with_parent)


COMPONENT = "jabber:component:accept"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


class FakeServer:
    def __init__(self, jid="push.localhost"):
        self.jid = jid
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.conn = None
        self.raw = b""
        self.stanzas = []
        self.ids = itertools.count(1)

    def accept(self, secret, timeout=15):
        self.sock.settimeout(timeout)
        self.conn, _ = self.sock.accept()
        self.conn.settimeout(5)
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.raw = b""
        self.stanzas = []
        self._read_until(lambda: self.depth >= 1)
        self.send("<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
                  "xmlns:stream='http://etherx.jabber.org/streams' from='%s' id='s1d'>" % self.jid)
        hs = self.next_stanza()
        want = hashlib.sha1(("s1d" + secret).encode()).hexdigest()
        if hs is None or hs.text != want:
            raise RuntimeError("bad handshake %r" % (hs.text if hs is not None else None))
        self.send("<handshake/>")

    def _feed(self, data):
        self.raw += data
        self.parser.feed(data)
        for ev, el in self.parser.read_events():
            if ev == "start":
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth == 1:
                    self.stanzas.append(el)

    def _read_until(self, cond, timeout=10):
        end = time.time() + timeout
        while not cond():
            if time.time() > end:
                return False
            try:
                self.conn.settimeout(max(0.05, end - time.time()))
                data = self.conn.recv(65536)
            except socket.timeout:
                continue
            if not data:
                return cond()
            self._feed(data)
        return True

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.conn.sendall(data)

    def next_stanza(self, timeout=10):
        self._read_until(lambda: len(self.stanzas) > 0, timeout)
        return self.stanzas.pop(0) if self.stanzas else None

    def wait_id(self, iq_id, timeout=10):
        """The stanza whose id is iq_id (others stay queued)."""
        end = time.time() + timeout
        while time.time() < end:
            for i, s in enumerate(self.stanzas):
                if s.get("id") == iq_id:
                    return self.stanzas.pop(i)
            self._read_until(lambda: any(s.get("id") == iq_id for s in self.stanzas),
                             max(0.05, end - time.time()))
        return None

    def iq(self, xml_payload, frm="localhost", typ="set", iq_id=None, timeout=10):
        iq_id = iq_id or "t%d" % next(self.ids)
        self.send("<iq type='%s' id='%s' from='%s' to='%s'>%s</iq>" %
                  (typ, xml_escape_attr(iq_id), frm, self.jid, xml_payload))
        return self.wait_id(iq_id, timeout)

    def ping(self, timeout=DEADLINE):
        """True once xpushd answers a XEP-0199 ping: the session is up and
        stanzas reach the router, which is what a test waits for before it
        starts, rather than for a line in the log."""
        r = self.iq("<ping xmlns='urn:xmpp:ping'/>", typ="get", timeout=timeout)
        return r is not None and r.get("type") == "result"


def xml_escape_attr(s):
    return s.replace("&", "&amp;").replace("'", "&apos;").replace("<", "&lt;")


def error_of(iq):
    """(type, condition, text) of an IQ error, or None."""
    if iq is None or iq.get("type") != "error":
        return None
    err = iq.find("{%s}error" % COMPONENT)
    if err is None:
        return ("?", "no <error/> in the stream namespace", None)
    cond = None
    for c in err:
        if c.tag.startswith("{%s}" % STANZAS) and not c.tag.endswith("}text"):
            cond = c.tag.split("}")[1]
    text = err.find("{%s}text" % STANZAS)
    return (err.get("type"), cond, text.text if text is not None else None)


class Daemon:
    """xpushd run in the foreground with a generated configuration."""

    def __init__(self, conf_text, top_builddir, name="xpushd"):
        self.dir = tempfile.mkdtemp(prefix="xpushd-test-")
        self.conf = os.path.join(self.dir, name + ".conf")
        self.write_conf(conf_text)
        self.binary = os.path.join(top_builddir, "xpushd")
        self.logpath = os.path.join(self.dir, name + ".log")
        self.proc = None

    def write_conf(self, text):
        with open(self.conf, "w") as f:
            f.write(text)

    def migrate(self):
        return subprocess.run([self.binary, "--migrate", "-c", self.conf],
                              capture_output=True, text=True)

    def start(self):
        self.log = open(self.logpath, "a")
        self.proc = spawn_daemon([self.binary, "-f", "-d", "-c", self.conf], self.log)

    def logtext(self):
        with open(self.logpath) as f:
            return f.read()

    def wait_log(self, pattern, timeout=DEADLINE, count=1):
        """For tests of what the log says; to wait for a state, ask the
        daemon (ping(), /health, /metrics)."""
        return wait_until(lambda: len(re.findall(pattern, self.logtext())) >= count, timeout)

    def hup(self):
        self.proc.send_signal(1)

    def stop(self):
        if self.proc is None:
            return 0
        self.proc.terminate()
        try:
            rc = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = -9
        self.proc = None
        return rc

    def sanitizer_report(self):
        text = self.logtext()
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                       "runtime error:"):
            if marker in text:
                i = text.index(marker)
                return text[max(0, i - 200):i + 3000]
        return None


def command(s, node, fields, frm="alice@localhost/phone"):
    """Executes the ad-hoc command node on the FakeServer s with a submitted
    form of fields; the answer's form fields, {var: first value}."""
    x = "<x xmlns='%s' type='submit'>%s</x>" % (XD, "".join(
        "<field var='%s'><value>%s</value></field>" % kv for kv in fields.items()))
    r = s.iq("<command xmlns='%s' node='%s' action='execute'>%s</command>" % (CMD, node, x), frm=frm)
    out = {}
    for f in r.iter("{%s}field" % XD) if r is not None else []:
        out[f.get("var")] = f.findtext("{%s}value" % XD)
    return out
