#!/usr/bin/python3
"""A real XMPP client for the integration tests, on Debian's slixmpp.

    client.py [--jid J] [--password P] --port N COMMAND ARGS...

Commands (each prints one JSON object on stdout and exits 0 when the
exchange itself worked, whatever the answer):

    iq TYPE TO XML          send <iq type=TYPE to=TO> with the XML payload;
                            prints {"type": "result"|"error", "xml": ...,
                            "error_type": ..., "condition": ...}; TO "-"
                            sends it without a to attribute, to the
                            account itself (XEP-0357 enable, as apps do)
    disco-info TO [NODE]    {"identities": [[cat, type, name]], "features": [...]}
    disco-items TO [NODE]   {"items": [[jid, node, name]]}
    ping TO                 {"type": "result"|"error", ...}
    version TO              {"name": ..., "version": ...}
    command TO NODE [var=value ...]
                            XEP-0050: execute, then submit the form with the
                            given fields (var=value; repeat a var for a
                            multi-valued field); prints the result form's
                            fields, the notes and the status.  xpushd
                            refuses a submission it cannot accept with an
                            IQ error (XEP-0050 section 4.6: modify/
                            bad-request with <bad-payload/>), printed as
                            {"type": "error", "error_type": ...,
                            "condition": ..., "app_condition": ...,
                            "text": "FIELD: why"}
    wait-message SECONDS    the first chat message that arrives: {"from":
                            ..., "body": ...} or {"timeout": true}
    enable-push JID NODE SECRET
                            XEP-0357 enable at the user's own server, with
                            the secret as publish-options, then log out
    send TO BODY            a chat message
    propose TO SID          a Jingle Message Initiation call proposal

The client logs in with SCRAM over plain TCP on 127.0.0.1 (the test Prosody
has no TLS).
"""
import argparse
import asyncio
import json
import logging
import sys
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout

STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


def error_info(stanza):
    err = stanza.xml.find("{jabber:client}error")
    if err is None:
        return {}
    cond = None
    app = None
    for child in err:
        ns, _, name = child.tag[1:].partition("}")
        if ns == STANZAS and name != "text":
            cond = name
        elif ns != STANZAS:
            app = name
    text = err.find("{%s}text" % STANZAS)
    return {"error_type": err.get("type"), "condition": cond,
            "app_condition": app,
            "text": text.text if text is not None else None,
            "error_ns": err.tag[1:].partition("}")[0]}


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password, args):
        super().__init__(jid, password)
        self.args = args
        self.result = None
        for p in ("xep_0030", "xep_0050", "xep_0199", "xep_0092", "xep_0004"):
            self.register_plugin(p)
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("failed_auth", self.failed)
        self.messages = asyncio.Queue()
        self.add_event_handler("message", self.on_message)

    def on_message(self, msg):
        if msg["type"] in ("chat", "normal") and msg["body"]:
            self.messages.put_nowait(msg)

    def failed(self, _):
        self.result = {"error": "authentication failed"}
        self.disconnect()

    async def start(self, _):
        self.send_presence()
        try:
            self.result = await self.run_command()
        except IqError as e:
            self.result = {"type": "error", **error_info(e.iq),
                           "xml": str(e.iq)}
        except IqTimeout:
            self.result = {"timeout": True}
        except Exception as e:  # report, never hang
            self.result = {"exception": repr(e)}
        self.disconnect()

    async def run_command(self):
        a = self.args
        cmd, rest = a.command, a.rest
        if cmd == "iq":
            iq = self.Iq()
            iq["type"] = rest[0]
            if rest[1] != "-":
                iq["to"] = rest[1]
            iq.append(ET.fromstring(rest[2]))
            resp = await iq.send(timeout=a.timeout)
            return {"type": resp["type"], "xml": str(resp)}
        if cmd == "disco-info":
            node = rest[1] if len(rest) > 1 else None
            r = await self["xep_0030"].get_info(jid=rest[0], node=node,
                                                timeout=a.timeout)
            q = r["disco_info"]
            return {"identities": [[i[0], i[1], i[3]] for i in q["identities"]],
                    "features": sorted(q["features"])}
        if cmd == "disco-items":
            node = rest[1] if len(rest) > 1 else None
            r = await self["xep_0030"].get_items(jid=rest[0], node=node,
                                                 timeout=a.timeout)
            return {"items": [list(i) for i in r["disco_items"]["items"]]}
        if cmd == "ping":
            iq = self.Iq()
            iq["type"], iq["to"] = "get", rest[0]
            iq.append(ET.fromstring("<ping xmlns='urn:xmpp:ping'/>"))
            resp = await iq.send(timeout=a.timeout)
            return {"type": resp["type"], "xml": str(resp)}
        if cmd == "version":
            r = await self["xep_0092"].get_version(rest[0], timeout=a.timeout)
            v = r["software_version"]
            return {"name": v["name"], "version": v["version"]}
        if cmd == "command":
            return await self.adhoc(rest[0], rest[1], rest[2:])
        if cmd == "enable-push":
            iq = self.Iq()
            iq["type"] = "set"
            iq.append(ET.fromstring(
                "<enable xmlns='urn:xmpp:push:0' jid='%s' node='%s'>"
                "<x xmlns='jabber:x:data' type='submit'>"
                "<field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>"
                "<field var='secret'><value>%s</value></field></x></enable>" % tuple(rest[:3])))
            resp = await iq.send(timeout=a.timeout)
            return {"type": resp["type"]}
        if cmd == "send":
            self.send_message(mto=rest[0], mbody=rest[1], mtype="chat")
            await asyncio.sleep(0.3)
            return {"sent": True}
        if cmd == "propose":
            msg = self.Message()
            msg["to"], msg["type"] = rest[0], "chat"
            msg.append(ET.fromstring(
                "<propose xmlns='urn:xmpp:jingle-message:0' id='%s'>"
                "<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/>"
                "</propose>" % rest[1]))
            msg.send()
            await asyncio.sleep(0.3)
            return {"sent": True}
        if cmd == "wait-message":
            try:
                m = await asyncio.wait_for(self.messages.get(),
                                           float(rest[0]))
                return {"from": str(m["from"]), "body": m["body"]}
            except asyncio.TimeoutError:
                return {"timeout": True}
        raise ValueError("unknown command " + cmd)

    async def adhoc(self, to, node, assignments):
        values = {}
        for a in assignments:
            var, _, val = a.partition("=")
            values.setdefault(var, []).append(val)
        iq = self.Iq()
        iq["type"], iq["to"] = "set", to
        iq["command"]["node"] = node
        iq["command"]["action"] = "execute"
        first = await iq.send(timeout=self.args.timeout)
        cmd = first["command"]
        out = {"first_status": cmd["status"],
               "sessionid": cmd["sessionid"]}
        if cmd["status"] != "executing":
            out.update(self.describe(first))
            return out
        form = cmd["form"]
        ffields = form.get_fields()
        out["form_fields"] = {k: {"type": f["type"],
                                  "options": [o["value"] for o in f["options"]],
                                  "required": f["required"]}
                              for k, f in ffields.items()}
        if self.args.cancel:
            iq = self.Iq()
            iq["type"], iq["to"] = "set", to
            iq["command"]["node"] = node
            iq["command"]["sessionid"] = cmd["sessionid"]
            iq["command"]["action"] = "cancel"
            r = await iq.send(timeout=self.args.timeout)
            out.update(self.describe(r))
            return out
        submit = self["xep_0004"].make_form(ftype="submit")
        for var, vals in values.items():
            ftype = ffields[var]["type"] if var in ffields else None
            if ftype in ("list-multi", "jid-multi", "text-multi"):
                submit.add_field(var=var, ftype=ftype, value=vals)
            else:
                submit.add_field(var=var, value=vals[0])
        iq = self.Iq()
        iq["type"], iq["to"] = "set", to
        iq["command"]["node"] = node
        iq["command"]["sessionid"] = (self.args.sessionid or
                                      cmd["sessionid"])
        iq["command"]["action"] = "complete"
        iq["command"].append(submit)
        try:
            r = await iq.send(timeout=self.args.timeout)
        except IqError as e:
            out.update({"type": "error", **error_info(e.iq)})
            return out
        out.update(self.describe(r))
        return out

    @staticmethod
    def describe(resp):
        cmd = resp["command"]
        fields = {}
        form = cmd.xml.find("{jabber:x:data}x")
        if form is not None:
            for f in form.findall("{jabber:x:data}field"):
                vals = [v.text or "" for v in f.findall("{jabber:x:data}value")]
                fields[f.get("var")] = vals if len(vals) != 1 else vals[0]
            for item in form.findall("{jabber:x:data}item"):
                row = {}
                for f in item.findall("{jabber:x:data}field"):
                    v = f.find("{jabber:x:data}value")
                    row[f.get("var")] = v.text if v is not None else None
                fields.setdefault("_items", []).append(row)
        notes = [[n.get("type", "info"), n.text or ""]
                 for n in cmd.xml.findall("{http://jabber.org/protocol/commands}note")]
        return {"type": resp["type"], "status": cmd["status"],
                "fields": fields, "notes": notes}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--jid", default="alice@localhost")
    p.add_argument("--password", default="pw")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--timeout", type=float, default=10)
    p.add_argument("--cancel", action="store_true")
    p.add_argument("--sessionid")
    p.add_argument("--debug", action="store_true")
    p.add_argument("command")
    p.add_argument("rest", nargs="*")
    a = p.parse_args()
    logging.basicConfig(level=logging.DEBUG if a.debug else logging.CRITICAL)
    c = Client(a.jid, a.password, a)
    c["feature_mechanisms"].unencrypted_plain = True
    c.connect(address=("127.0.0.1", a.port), disable_starttls=True,
              force_starttls=False)
    loop = asyncio.get_event_loop()
    loop.run_until_complete(asyncio.wait_for(c.disconnected, a.timeout + 20))
    if c.result is None:
        c.result = {"error": "no session"}
    print(json.dumps(c.result))
    return 0 if "error" not in c.result or c.result.get("type") == "error" else 1


if __name__ == "__main__":
    sys.exit(main())
