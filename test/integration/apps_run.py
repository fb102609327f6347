#!/usr/bin/python3
"""Stork and Siskin, the Tigase apps, unmodified, against xpushd through a
real XMPP server: the body of test/integration/apps_test.sh, which starts
the world (test/lib/e2e.sh) with two more provider blocks, the ids the
apps hard-code: 'fcm-xmpp-api' served by FCM HTTP v1 (Tigase's class
tigase.push.fcm.FcmHttpV1Provider) and 'tigase:messenger:apns:1' on the
apns module.

Every stanza an app sends is written here as the app's source builds it
(each builder names the file and function it follows); what the test
reads from the answers is what the app reads, and the push at the mock is
checked for exactly the fields the app's push handler reads.

The server-side observations do not depend on which server runs: rows in
PostgreSQL, the mocks' records, and xpushd's own publish counter
(get-statistics, as the admin).  That a message produced no publish is
shown against a later message that did: Bob writes to the account under
test, then to a marker account; the server handles Bob's stanzas in order
and sends its publishes over one component stream, so once the marker's
push is at the mock, a publish for the first message would have been
counted before it.

TAP on stdout without a plan: the driver adds its own checks after this
body and prints the plan; the count and failures go to the file named by
APPS_TAP_STATE.
"""
import asyncio
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp.exceptions import IqError

from xptest import Tap, wait_until, DEADLINE

PORT = int(os.environ["E2E_C2S_PORT"])
DB = os.environ["XPUSHD_TEST_DB_URI"]
APNS_RECORD = os.environ["E2E_APNS_RECORD"]
FCM_RECORD = os.environ["E2E_FCM_RECORD"]
DOMAIN = "localhost"
PUSH = "push.localhost"

CMD = "http://jabber.org/protocol/commands"
XD = "jabber:x:data"
DISCO_INFO = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
PUSH_NS = "urn:xmpp:push:0"

# The provider ids the apps hard-code.
STORK_PROVIDER = "fcm-xmpp-api"            # Stork PushController
SISKIN_PROVIDER = "tigase:messenger:apns:1"  # Siskin SiskinPushNotificationsModule.providerId

t = Tap()


# --- The XMPP side: a logged-in account that sends stanzas as given.

class Session(slixmpp.ClientXMPP):
    def __init__(self, jid):
        super().__init__(jid, "pw")
        self.started = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", self._start)
        self.add_event_handler("failed_auth", self._failed)

    def _start(self, _):
        self.send_presence()
        if not self.started.done():
            self.started.set_result(True)

    def _failed(self, _):
        if not self.started.done():
            self.started.set_exception(RuntimeError("authentication failed"))

    async def iq(self, payload, to=None, type_="set"):
        """<iq type=type_ [to=to]> around payload (XML text, sent as it
        is); returns the answer, result or error, as an element."""
        iq = self.Iq()
        iq["type"] = type_
        if to is not None:
            iq["to"] = to
        iq.append(ET.fromstring(payload))
        try:
            r = await iq.send(timeout=DEADLINE)
        except IqError as e:
            r = e.iq
        return r.xml


async def login(jid):
    s = Session(jid)
    s["feature_mechanisms"].unencrypted_plain = True
    s.connect(address=("127.0.0.1", PORT), disable_starttls=True,
              force_starttls=False)
    await asyncio.wait_for(s.started, DEADLINE)
    return s


async def logout(s):
    await s.disconnect()
    # slixmpp leaves its output filter task waiting on the send queue.
    task = getattr(s, "_run_out_filters", None)
    if task is not None and not task.done():
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass


async def send_chat(frm, to, body):
    """A chat message, known to have reached the server: the server answers
    the ping sent after it only once it has read the message (slixmpp's
    disconnect can otherwise close the stream while the message is still
    in its output filters)."""
    s = await login(frm)
    s.send_message(mto=to, mbody=body, mtype="chat")
    await s.iq("<ping xmlns='urn:xmpp:ping'/>", to=DOMAIN, type_="get")
    await logout(s)


def iq_type(el):
    return el.get("type")


def error_condition(el):
    err = el.find("{jabber:client}error")
    if err is None:
        return None
    for c in err:
        if c.tag.startswith("{urn:ietf:params:xml:ns:xmpp-stanzas}") and \
                not c.tag.endswith("}text"):
            return err.get("type") + "/" + c.tag.partition("}")[2]
    return err.get("type")


def result_form(el):
    """The <x type='result'/> of a command answer, or None."""
    cmd = el.find("{%s}command" % CMD)
    return None if cmd is None else cmd.find("{%s}x" % XD)


def command_status(el):
    cmd = el.find("{%s}command" % CMD)
    return None if cmd is None else cmd.get("status")


# --- What the apps send and read, from their sources.

def xml_escape(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;").replace("'", "&apos;"))


def stork_register_device(token):
    """Stork, app/src/playstore/.../PushController.java,
    registerInPushService: ah.execute(PUSH_SERVICE_JID, "register-device",
    null, fields) with fields.addListSingleField("provider",
    "fcm-xmpp-api") and addTextSingleField("device-token", token).  jaxmpp
    AdHocCommansModule.execute writes no action attribute when the action
    is null; JabberDataElement.createSubmitableElement(submit) writes the
    fields with their type attributes (AbstractField's constructor)."""
    return ("<command xmlns='%s' node='register-device'>"
            "<x xmlns='%s' type='submit'>"
            "<field type='list-single' var='provider'><value>%s</value></field>"
            "<field type='text-single' var='device-token'><value>%s</value></field>"
            "</x></command>" % (CMD, XD, STORK_PROVIDER, xml_escape(token)))


def stork_unregister_device(token):
    """Stork PushController.unregisterInPushService: the same form to
    unregister-device, after disablePushService."""
    return stork_register_device(token).replace("'register-device'",
                                                "'unregister-device'")


def result_values(answer, var):
    """The values of a field of a command's result form."""
    x = result_form(answer)
    for f in x.findall("{%s}field" % XD) if x is not None else []:
        if f.get("var") == var:
            return [v.text or "" for v in f.findall("{%s}value" % XD)]
    return None


def stork_read_node(answer):
    """PushController.registerInPushService onResponseReceived:
    data.getField("node").getFieldValue(); nothing else is read."""
    x = result_form(answer)
    if x is None:
        return None
    for f in x.findall("{%s}field" % XD):
        if f.get("var") == "node":
            v = f.find("{%s}value" % XD)
            return v.text if v is not None else None
    return None


def jaxmpp_enable(node):
    """jaxmpp PushNotificationModule.enable(pushComponentJid, node), as
    Stork's PushController.enablePushService calls it: <enable jid node/>
    and nothing else (no publish-options), to the account's own server
    (the IQ has no 'to')."""
    return "<enable xmlns='%s' jid='%s' node='%s'/>" % (PUSH_NS, PUSH, node)


def jaxmpp_disable(node):
    """jaxmpp PushNotificationModule.disable, as
    PushController.disablePushService calls it."""
    return "<disable xmlns='%s' jid='%s' node='%s'/>" % (PUSH_NS, PUSH, node)


def stork_fcm_check(msg, account):
    """What Stork's MyFirebaseMessagingService.onMessageReceived reads:
    the data map must be non-empty (getData().size() > 0) and
    data.account names the account to connect (XMPPService
    CONNECT_SINGLE: getJaxmpp(account) looks it up as a bare JID).  The
    message must be a data message: with a notification block Android
    shows the notification itself and onMessageReceived does not run
    while the app is in the background."""
    data = msg.get("data", {})
    return (len(data) > 0 and data.get("account") == account and
            "notification" not in msg and
            msg.get("android", {}).get("priority") == "HIGH")


async def martin_find_push_component(s):
    """Siskin SiskinPushNotificationsModule.findPushComponent ->
    Martin TigasePushNotificationsModule.findPushComponent(requiredFeatures:
    ["urn:xmpp:push:0", providerId]): disco#items on the account's domain,
    disco#info on each item (with its node, when it has one), and the
    first item with identity pubsub/push and every required feature.
    Returns (jid or None, the features of every item asked)."""
    items = await s.iq("<query xmlns='%s'/>" % DISCO_ITEMS, to=DOMAIN,
                       type_="get")
    found, seen = None, {}
    for it in items.iter("{%s}item" % DISCO_ITEMS):
        q = "<query xmlns='%s'%s/>" % (
            DISCO_INFO, " node='%s'" % it.get("node") if it.get("node") else "")
        info = await s.iq(q, to=it.get("jid"), type_="get")
        ids = [(i.get("category"), i.get("type"))
               for i in info.iter("{%s}identity" % DISCO_INFO)]
        feats = {f.get("var") for f in info.iter("{%s}feature" % DISCO_INFO)}
        seen[it.get("jid")] = feats
        if (found is None and ("pubsub", "push") in ids and
                {PUSH_NS, SISKIN_PROVIDER} <= feats):
            found = it.get("jid")
    return found, seen


def siskin_register_device(token, pushkit=None):
    """Martin TigasePushNotificationsModule.registerDevice, as Siskin's
    registerDeviceAndEnable calls it with provider
    "tigase:messenger:apns:1": DataForm(type: .submit) with TextSingle
    provider, device-token and, when there is a PushKit token,
    device-second-token; AdHocCommandsModule.execute(on:command:action:
    .execute, data:) ignores the action and writes none; DataForm.element
    writes var then type on each field."""
    f = ("<field var='provider' type='text-single'><value>%s</value></field>"
         "<field var='device-token' type='text-single'><value>%s</value></field>"
         % (SISKIN_PROVIDER, token))
    if pushkit is not None:
        f += ("<field var='device-second-token' type='text-single'>"
              "<value>%s</value></field>" % pushkit)
    return ("<command xmlns='%s' node='register-device'>"
            "<x xmlns='%s' type='submit'>%s</x></command>" % (CMD, XD, f))


def siskin_unregister_device(token):
    """Martin TigasePushNotificationsModule.unregisterDevice: TextSingle
    provider and device-token to unregister-device."""
    return ("<command xmlns='%s' node='unregister-device'>"
            "<x xmlns='%s' type='submit'>"
            "<field var='provider' type='text-single'><value>%s</value></field>"
            "<field var='device-token' type='text-single'><value>%s</value></field>"
            "</x></command>" % (CMD, XD, SISKIN_PROVIDER, token))


def martin_registration_result(answer):
    """Martin TigasePushNotificationsModule.RegistrationResult(form:):
    node (a text-single value; no node, no registration), features
    (value(for:type:[String]) reads only a text-multi or jid-multi field)
    and max-payload-size (Int(value) of a text-single).  Fields are typed
    by their type attribute, text-single when it is absent
    (DataForm.Field.parse)."""
    x = result_form(answer)
    if x is None or x.get("type") not in ("form", "submit", "cancel",
                                          "result"):
        return None
    fields = {}
    for f in x.findall("{%s}field" % XD):
        fields[f.get("var")] = (f.get("type") or "text-single",
                                [v.text or "" for v in f.findall("{%s}value" % XD)])
    node = fields.get("node")
    if node is None or node[0] != "text-single" or not node[1]:
        return None
    feats = fields.get("features")
    features = feats[1] if feats and feats[0] in ("text-multi",
                                                   "jid-multi") else None
    size = fields.get("max-payload-size")
    try:
        max_size = int(size[1][0]) if size and size[0] == "text-single" else None
    except ValueError:
        max_size = None
    return {"node": node[1][0], "features": features, "max-payload-size": max_size}


def martin_enable(node):
    """Martin PushNotificationsModule.enable(serviceJid:node:extensions:),
    as SiskinPushNotificationsModule.enable calls it: <enable jid node/>
    plus the extensions prepareExtensions picks.  Each extension is added
    only when the account's own server announces it
    (PushNotificationsModule.isSupported reads the account's disco#info);
    the servers under test announce none of Tigase's, so there are none.
    No publish-options."""
    return "<enable xmlns='%s' jid='%s' node='%s'/>" % (PUSH_NS, PUSH, node)


def siskin_apns_check(payload, account, sender, body):
    """What Siskin reads from an APNs push: NotificationService.didReceive
    (the service extension, which runs for an alert with mutable-content)
    takes userInfo["account"] as a BareJID, then, unencrypted, "sender"
    (as a JID, bare), "body", "unread-messages" (as? Int) and "nickname";
    AppDelegate didReceiveRemoteNotification reads the same keys.
    unread-messages is there when the server sent a message count
    (Prosody does, ejabberd does not) and must then be a number."""
    aps = payload.get("aps", {})
    unread = payload.get("unread-messages", 0)
    return (payload.get("account") == account and
            payload.get("sender") == sender and payload.get("body") == body and
            isinstance(unread, int) and not isinstance(unread, bool) and
            aps.get("mutable-content") == 1 and "alert" in aps)


# --- The observations.

def records(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def fcm_sends(token):
    return [r for r in records(FCM_RECORD)
            if r.get("path", "").endswith("messages:send") and
            r.get("body", {}).get("message", {}).get("token") == token]


def apns_sends(token):
    return [r for r in records(APNS_RECORD)
            if r.get("path") == "/3/device/" + token]


def rows(where):
    q = "select count(*) from devices where " + where
    out = subprocess.run(["psql", "-X", "-A", "-t", DB, "-c", q],
                         capture_output=True, text=True, check=True).stdout
    return int(out.strip())


async def publishes_received():
    """xpushd's publish counter, read by the admin with get-statistics
    (XEP-0050: execute, then complete the form)."""
    s = await login("admin@localhost")
    first = await s.iq("<command xmlns='%s' node='get-statistics' "
                       "action='execute'/>" % CMD, to=PUSH)
    sid = first.find("{%s}command" % CMD).get("sessionid")
    r = await s.iq("<command xmlns='%s' node='get-statistics' "
                   "sessionid='%s' action='complete'><x xmlns='%s' "
                   "type='submit'/></command>" % (CMD, sid, XD), to=PUSH)
    await logout(s)
    for f in result_form(r).findall("{%s}field" % XD):
        if f.get("var") == "publishes-received":
            return int(f.find("{%s}value" % XD).text)
    raise RuntimeError("get-statistics has no publishes-received")


MARKER = "marker@localhost"   # created by apps_test.sh
MARKER_TOKEN = "marker-token-0001"


async def no_publish_for(account, text):
    """Bob writes to account, then to the marker account; once the
    marker's push is at the FCM mock, xpushd has received exactly one
    publish since: none came for account."""
    before = await publishes_received()
    n = len(fcm_sends(MARKER_TOKEN))
    await send_chat("bob@localhost", account, text)
    await send_chat("bob@localhost", MARKER, "marker")
    arrived = await asyncio.to_thread(
        wait_until, lambda: len(fcm_sends(MARKER_TOKEN)) > n)
    after = await publishes_received()
    if not (arrived and after - before == 1):
        t.diag("marker push arrived: %s; publishes received before %d, "
               "after %d" % (arrived, before, after))
    return arrived and after - before == 1


# --- The scenarios.

async def marker():
    """marker@localhost: a plain registration whose pushes mark a point in
    the server's stream (no_publish_for).  Not an admin: xpushd writes to
    the admins (certificate warnings), and each message would be a
    publish."""
    s = await login(MARKER)
    r = await s.iq("<command xmlns='%s' node='register-device' action='execute'>"
                   "<x xmlns='%s' type='submit'>"
                   "<field var='provider'><value>fcm-http-v1</value></field>"
                   "<field var='device-token'><value>%s</value></field>"
                   "</x></command>" % (CMD, XD, MARKER_TOKEN), to=PUSH)
    node = stork_read_node(r)
    e = await s.iq(jaxmpp_enable(node))
    await logout(s)
    t.ok(node is not None and iq_type(e) == "result",
         "the marker account registers and enables push")


async def stork(account, token, dead=False):
    """One Stork install: register-device, enable, go away, Bob writes."""
    s = await login(account)
    r = await s.iq(stork_register_device(token), to=PUSH)
    node = stork_read_node(r)
    t.ok(iq_type(r) == "result" and command_status(r) == "completed" and
         node is not None,
         "Stork (%s): register-device without an action attribute, provider "
         "list-single 'fcm-xmpp-api', is completed with a node" % account)
    if node is None:
        t.diag(ET.tostring(r, encoding="unicode"))
        await logout(s)
        return None
    t.is_(result_values(r, "features"), ["tigase:push:priority:0"],
          "features: the block's push extensions, without the provider id "
          "it lists")
    t.is_(rows("owner = '%s' and provider = '%s' and token = '%s'" %
               (account, STORK_PROVIDER, token)), 1,
          "the registration is stored under the provider id 'fcm-xmpp-api'")
    e = await s.iq(jaxmpp_enable(node))
    t.is_(iq_type(e), "result",
          "Stork enables push at its server with the node only (no secret)")
    await logout(s)
    n = len(fcm_sends(token))
    await send_chat("bob@localhost", account, "hello stork")
    got = await asyncio.to_thread(wait_until, lambda: len(fcm_sends(token)) > n)
    t.ok(got, "Bob writes to the offline account: the FCM mock receives a "
         "push for Stork's token")
    if not got:
        return node
    rec = fcm_sends(token)[-1]
    if dead:
        return node
    msg = rec["body"]["message"]
    t.ok(stork_fcm_check(msg, account),
         "a HIGH data message whose data.account is the bare JID, with no "
         "notification block (what MyFirebaseMessagingService reads)")
    if not stork_fcm_check(msg, account):
        t.diag(json.dumps(msg))
    t.is_(rec["path"], "/v1/projects/xpushd-demo/messages:send",
          "sent through FCM HTTP v1 with the block's service account")
    return node


async def unregistered(app, account, node, disabled, answer):
    """The end of an app's unregistration: its server disabled push, its
    unregister-device (sent exactly as the app sends it) is completed, the
    row is gone, and Bob's next message is not published."""
    t.is_(iq_type(disabled), "result", "%s disables push at its server" % app)
    t.is_((iq_type(answer), command_status(answer)), ("result", "completed"),
          "%s's unregister-device is completed" % app)
    t.is_(rows("node = '%s'" % node), 0, "the registration is gone")
    t.ok(await no_publish_for(account, "still there?"),
         "Bob writes again: no publish, no push")


async def stork_unregister(account, token, node):
    """Stork PushController.unregisterInPushService: disablePushService,
    then unregister-device with the same fields."""
    s = await login(account)
    d = await s.iq(jaxmpp_disable(node))
    r = await s.iq(stork_unregister_device(token), to=PUSH)
    await logout(s)
    await unregistered("Stork", account, node, d, r)


async def siskin(account, token, pushkit=None, dead=False):
    """One Siskin install: find the push component, register-device,
    enable, go away, Bob writes."""
    s = await login(account)
    jid, seen = await martin_find_push_component(s)
    t.diag("disco#items of %s: %s" % (DOMAIN, " ".join(sorted(seen))))
    t.is_(jid, PUSH, "Siskin's findPushComponent picks %s among the "
          "domain's items by identity pubsub/push and the features "
          "urn:xmpp:push:0 and tigase:messenger:apns:1" % PUSH)
    feats = seen.get(PUSH, set())
    want = {STORK_PROVIDER, SISKIN_PROVIDER, "apns-binary-api", "fcm-http-v1"}
    t.ok(want <= feats, "disco#info announces every active provider id "
         "(tigase:messenger:apns:1 is in no features list)")
    t.ok("tigase:messenger:apns:0" not in feats,
         "but not the id of a block switched off (active: false)")
    if jid is None:
        t.diag(repr(seen))
        jid = PUSH  # Siskin falls back to its defaultPushServiceJid
    r = await s.iq(siskin_register_device(token, pushkit), to=jid)
    reg = martin_registration_result(r)
    t.ok(iq_type(r) == "result" and reg is not None,
         "Siskin (%s): register-device with text-single fields and no "
         "action gives a result Martin's RegistrationResult reads" % account)
    if reg is None:
        t.diag(ET.tostring(r, encoding="unicode"))
        await logout(s)
        return None
    t.ok(reg["features"] is not None and
         "tigase:push:encrypt:0" in reg["features"],
         "features is a text-multi list of push extensions, with "
         "tigase:push:encrypt:0 (Siskin asks for encryption by it)")
    t.ok(reg["features"] is not None and
         not (want & set(reg["features"])),
         "and holds no provider id: those are disco features")
    t.ok(isinstance(reg["max-payload-size"], int) and
         reg["max-payload-size"] > 0,
         "max-payload-size reads as an integer (%r)" % reg["max-payload-size"])
    node = reg["node"]
    e = await s.iq(martin_enable(node))
    t.is_(iq_type(e), "result", "Siskin enables push at its server")
    await logout(s)
    n = len(apns_sends(token))
    await send_chat("bob@localhost", account, "hello siskin")
    got = await asyncio.to_thread(wait_until, lambda: len(apns_sends(token)) > n)
    t.ok(got, "Bob writes to the offline account: the APNs mock receives a "
         "push for Siskin's token")
    if not got or dead:
        return node
    rec = apns_sends(token)[-1]
    t.is_((rec["headers"].get("apns-push-type"), rec["headers"].get("apns-priority"),
           rec["headers"].get("apns-topic")),
          ("alert", "10", "com.example.app"),
          "an alert with priority 10 to the block's topic")
    payload = json.loads(rec["body"])
    ok = siskin_apns_check(payload, account, "bob@localhost", "hello siskin")
    t.ok(ok, "account, sender, body and unread-messages (a number) as "
         "Siskin's NotificationService reads them, with mutable-content")
    if not ok:
        t.diag(rec["body"])
    return node


async def siskin_unregister(account, token, node):
    """SiskinPushNotificationsModule.unregisterDeviceAndDisable: disable
    at the server and unregister-device, both sent at once."""
    s = await login(account)
    d, r = await asyncio.gather(
        s.iq("<disable xmlns='%s' jid='%s' node='%s'/>" % (PUSH_NS, PUSH, node)),
        s.iq(siskin_unregister_device(token), to=PUSH))
    await logout(s)
    await unregistered("Siskin", account, node, d, r)


async def dead_token(app, account, token):
    """The app registers a token the provider answers as dead.  xpushd
    answers the publish before it deletes the row (core/publish.c), on the
    stream that later carries the answers to the admin's get-statistics:
    once the row is gone and the admin has read the counter, the server
    has taken the item-not-found (ejabberd then deletes the push session
    in a process it spawns there and then, mod_push.erl notify/5, long
    before Bob has logged in again)."""
    node = await app(account, token, dead=True)
    if node is None:
        return
    gone = await asyncio.to_thread(wait_until,
                                   lambda: rows("node = '%s'" % node) == 0)
    t.ok(gone, "%s with a token the provider calls dead: xpushd forgets the "
         "registration" % app.__name__.capitalize())
    t.ok(await no_publish_for(account, "anyone?"),
         "the server took item-not-found and disabled push: Bob's next "
         "message is not published")


async def main():
    await marker()
    node = await stork("carol@localhost", "stork-token-carol-0001")
    if node:
        await stork_unregister("carol@localhost", "stork-token-carol-0001", node)
    await dead_token(stork, "dave@localhost", "unregistered-stork-dave")
    apns = "a1" * 32
    node = await siskin("alice@localhost", apns, pushkit="c3" * 32)
    if node:
        await siskin_unregister("alice@localhost", apns, node)
    await dead_token(siskin, "erin@localhost", "dead" + "00" * 30)


if __name__ == "__main__":
    try:
        asyncio.get_event_loop().run_until_complete(main())
    except Exception as e:  # report, and let the driver go on
        t.ok(False, "the scenario ran to its end (%r)" % e)
    with open(os.environ["APPS_TAP_STATE"], "w") as f:
        f.write("%d %d\n" % (t.n, t.failed))
    sys.exit(0)
