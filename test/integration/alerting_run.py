#!/usr/bin/python3
"""The alerting files that xpushd installs (conf/alerting/): promtool
accepts the Prometheus rules and the cases of
test/alerting/xpushd.rules.test.yml pass (each alert fires on the series it
is written for and stays quiet on normal ones), the Grafana dashboard is
well-formed and shows every metric family the daemon exports, and every
metric name that the rules or the dashboard use is one that a running
xpushd really exports: this body starts the daemon against the fake XMPP
server, a throwaway PostgreSQL (XPUSHD_TEST_DB_URI, see
test/integration/alerting_test.sh) and testprov.so, and scrapes its
/metrics.  Named _run so that automake's .py.log rule does not shadow the
.sh wrapper.  TAP."""
import json
import os
import re
import shutil
import subprocess
import urllib.request

import yaml

from xptest import (Tap, top_srcdir, top_builddir, MODULE_PATH, MIGRATIONS, SECRET,
                    db_uri, free_port, finish_daemon, wait_until)
from fakexmpp import FakeServer, Daemon

t = Tap()
RULES = os.path.join(top_srcdir, "conf", "alerting", "xpushd.rules.yml")
DASHBOARD = os.path.join(top_srcdir, "conf", "alerting", "xpushd-dashboard.json")
RULE_TESTS = os.path.join(top_srcdir, "test", "alerting", "xpushd.rules.test.yml")

# PromQL words that are not metric names.
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right",
            "offset", "bool", "and", "or", "unless", "inf", "nan"}


def promql_names(expr):
    """The metric names an expression selects: what is left once strings,
    label matchers, ranges, grouping clauses, offsets, function calls and
    keywords are taken out.  label_values(METRIC, LABEL) names METRIC."""
    expr = re.sub(r"label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,[^)]*\)", r" \1 ", expr)
    expr = re.sub(r'"(?:[^"\\]|\\.)*"' + r"|'(?:[^'\\]|\\.)*'", " ", expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\boffset\s+\S+", " ", expr)
    names = set()
    for m in re.finditer(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", expr):
        if m.group(2) is None and m.group(1).lower() not in KEYWORDS:
            names.add(m.group(1))
    return names


def exported(text):
    """The metric names a /metrics text declares and carries: each TYPE'd
    family (a histogram's with _bucket, _sum and _count) and each sample."""
    names = set()
    for line in text.splitlines():
        parts = line.split()
        if line.startswith("# TYPE") and len(parts) == 4:
            names.add(parts[2])
            if parts[3] == "histogram":
                names.update(parts[2] + s for s in ("_bucket", "_sum", "_count"))
        elif parts and not line.startswith("#"):
            names.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
    return names


def dashboard_exprs(dash):
    exprs = []
    for p in dash.get("panels", []):
        for q in p.get("targets", []):
            exprs.append(q.get("expr", ""))
        for sub in p.get("panels", []):
            exprs.extend(q.get("expr", "") for q in sub.get("targets", []))
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("query")
        if v.get("type") == "query":
            exprs.append(q.get("query", "") if isinstance(q, dict) else q)
    return exprs


def skip(why):
    t.n += 1
    print("ok %d # SKIP %s" % (t.n, why))


def scrape(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
            return r.read().decode()
    except OSError:
        return None


def main():
    # --- promtool
    promtool = shutil.which("promtool")
    if promtool is None and os.environ.get("XPUSHD_REQUIRE_ALL"):
        t.ok(False, "promtool is installed (Debian's prometheus package)")
    elif promtool is None:
        skip("promtool check rules: no promtool (Debian's prometheus package)")
        skip("promtool test rules: no promtool")
    else:
        r = subprocess.run([promtool, "check", "rules", RULES], capture_output=True, text=True)
        t.ok(r.returncode == 0, "promtool check rules accepts xpushd.rules.yml")
        if r.returncode != 0:
            t.diag(r.stdout + r.stderr)
        r = subprocess.run([promtool, "test", "rules", os.path.basename(RULE_TESTS)],
                           capture_output=True, text=True, cwd=os.path.dirname(RULE_TESTS))
        t.ok(r.returncode == 0, "promtool test rules: every alert fires when it should and only then")
        if r.returncode != 0:
            t.diag(r.stdout + r.stderr)

    # --- the files themselves
    with open(RULES) as f:
        rules = yaml.safe_load(f)
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"] if "alert" in r}
    recorded = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    for name, what in [("XpushdCertificateExpiring", "a certificate expiring within 14 days"),
                       ("XpushdProviderUnhealthy", "a provider unhealthy"),
                       ("XpushdLinkDown", "the component link down"),
                       ("XpushdDeletionsAboveNormal", "deletions per minute above normal"),
                       ("XpushdErrorAnswers", "error answers above a share of publishes")]:
        t.ok(name in alerts and alerts[name]["annotations"].get("summary"),
             "the rules alert on %s (%s, with a summary)" % (what, name))
    t.ok("14 * 86400" in alerts["XpushdCertificateExpiring"]["expr"],
         "the certificate alert's threshold is 14 days")
    with open(DASHBOARD) as f:
        dash = json.load(f)
    ids = [p["id"] for p in dash["panels"]]
    t.ok(len(ids) == len(set(ids)) and all("gridPos" in p for p in dash["panels"]),
         "the dashboard is JSON with unique panel ids, each placed")
    t.ok(all(p["type"] == "row" or p["datasource"]["uid"] == "${datasource}" for p in dash["panels"]),
         "every panel reads the dashboard's data source variable")

    rule_names = set()
    for g in rules["groups"]:
        for r in g["rules"]:
            rule_names |= promql_names(r["expr"])
    dash_names = set()
    for e in dashboard_exprs(dash):
        dash_names |= promql_names(e)
    t.ok(len(rule_names) >= 10 and len(dash_names) >= 15,
         "the rules name %d metrics, the dashboard %d" % (len(rule_names), len(dash_names)))

    # --- a running xpushd's /metrics
    port = free_port()
    s = FakeServer()
    d = Daemon("", top_builddir)
    d.write_conf("""
'module-path' = '%s'
xmpp () { jid = 'push.localhost'; port = %d; secret = '%s' }
database () { uri = '%s'; migrations = '%s' }
push () {
    'apns-binary-api' () { plugin = 'testprov' }
    'fcm-http-v1' () { plugin = 'testprov' }
}
rest () { listen = '127.0.0.1:%d'; tls = false; 'metrics-refresh' = 1 }
""" % (MODULE_PATH, s.port, SECRET, db_uri(), MIGRATIONS, port))
    m = d.migrate()
    t.ok(m.returncode == 0, "xpushd --migrate")
    d.start()
    s.accept(SECRET)
    text = wait_until(lambda: scrape(port))
    t.ok(text and "xpushd_link_up 1" in text, "the daemon is linked and /metrics answers")
    have = exported(text or "")
    for what, names in (("rules", rule_names), ("dashboard", dash_names)):
        own = {n for n in names if n in recorded}
        unknown = sorted(n for n in names - own if n not in have)
        t.ok(not unknown, "every metric the %s use is exported by xpushd (%d checked)"
             % (what, len(names - own)))
        if unknown:
            t.diag("not exported: " + ", ".join(unknown))
    unrecorded = sorted(n for n in rule_names | dash_names if ":" in n and n not in recorded)
    t.ok(not unrecorded, "every recorded series they use is recorded by xpushd.rules.yml")
    if unrecorded:
        t.diag("not recorded: " + ", ".join(unrecorded))
    # The check itself can tell: a misspelt name is caught.
    t.ok("xpushd_link_upp" not in have and "xpushd_link_upp" in promql_names("xpushd_link_upp == 0"),
         "a misspelt metric name would be caught")
    # The other way round: every family the daemon exports has a panel (a
    # histogram through its buckets).
    families = {line.split()[2] for line in (text or "").splitlines()
                if line.startswith("# TYPE ")}
    unused = sorted(n for n in families
                    if n not in dash_names and n + "_bucket" not in dash_names)
    t.ok(families and not unused, "the dashboard shows every metric family xpushd exports (%d)"
         % len(families))
    if unused:
        t.diag("exported, not on the dashboard: " + ", ".join(unused))
    finish_daemon(t, d)
    raise SystemExit(t.done())


main()
