-- Test fixture for xpushd's end-to-end tests: adds the Tigase Jingle push
-- extension (tigase:push:jingle:0) to notifications about Jingle Message
-- Initiation proposals, as Tigase's server does, so that a call reaches
-- xpushd as a call.  Loaded only by the tests' Prosody.
local xmlns_jmi = "urn:xmpp:jingle-message:0";
local xmlns_rtp = "urn:xmpp:jingle:apps:rtp:1";

module:hook("cloud_notify/push", function (event)
	local stanza = event.original_stanza;
	if not stanza or stanza.name ~= "message" then return; end
	local propose = stanza:get_child("propose", xmlns_jmi);
	if not propose or not propose.attr.id then return; end
	local payload = event.notification_payload;
	payload:tag("jingle", { xmlns = "tigase:push:jingle:0",
		action = "propose", sid = propose.attr.id });
	for d in propose:childtags("description", xmlns_rtp) do
		if d.attr.media then
			payload:text_tag("media", d.attr.media);
		end
	end
	payload:up();
end, 1);
