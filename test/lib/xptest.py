"""The preamble the Python test bodies share: where the source and build
trees are, the component secret and the namespaces of the ad-hoc commands,
the throwaway database, free ports, waiting on a condition, and the checks
every run of the daemon ends with.

The test harness puts test/lib on PYTHONPATH (AM_TESTS_ENVIRONMENT), so a
body starts with `from xptest import ...` wherever its file lives."""
import os
import socket
import time

from taplib import Tap  # noqa: F401 (the bodies import it from here)

top_srcdir = os.environ.get("top_srcdir", ".")
top_builddir = os.environ.get("top_builddir", ".")

XPUSHD = os.path.join(top_builddir, "xpushd")
# testprov.so, the provider module that records pushes for the tests.
MODULE_PATH = os.path.join(top_builddir, "test", "plugins", ".libs")
MIGRATIONS = os.path.join(top_srcdir, "sql", "migrations")

SECRET = "component-secret"
CMD = "http://jabber.org/protocol/commands"
XD = "jabber:x:data"

# A wait ends as soon as its condition holds; the deadline only bounds a
# test that has already failed, so it is generous: the machines the suite
# runs on are shared, and the sanitizers slow the daemon down severalfold.
DEADLINE = 30
POLL = 0.05


def db_uri():
    """The throwaway cluster's URI, set by the test's _test.sh driver
    (test/lib/pg.sh)."""
    uri = os.environ.get("XPUSHD_TEST_DB_URI")
    if not uri:
        raise SystemExit("XPUSHD_TEST_DB_URI is not set: run this body through its "
                         "_test.sh driver, which starts a PostgreSQL for it")
    return uri


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(cond, timeout=DEADLINE):
    """Polls cond() until it returns something true and returns that, or
    returns the last (false) value once `timeout` seconds have passed."""
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() >= end:
            return v
        time.sleep(POLL)


def fixture_path(*parts):
    return os.path.join(top_srcdir, "test", "fixtures", *parts)


def finish_daemon(t, d):
    """The end of a daemon's run: it stops cleanly on SIGTERM, the
    sanitizers found nothing, and a failed test shows the log's tail."""
    rc = d.stop()
    t.is_(rc, 0, "xpushd stops cleanly")
    rep = d.sanitizer_report()
    t.ok(rep is None, "no sanitizer report")
    if rep:
        t.diag(rep)
    if t.failed:
        t.diag(d.logtext()[-4000:])
