-- 003-p2: registrations of the p2 dialect (register-push-fcm and
-- register-push-apns, the commands Conversations and its forks send;
-- core/p2.c).  A p2 registration is a devices row like any other (the
-- node cache, NOTIFY and the dead-token deletion serve it unchanged) that
-- also carries the device fingerprint the app checks in every push and,
-- for a group chat (channel) registration, the channel's fingerprint.
--
-- p2 keys a registration by (service, device fingerprint, channel): one
-- device's account registration and its channel registrations share one
-- token, so the Tigase key (owner, provider, token) holds for the other
-- rows only.

ALTER TABLE devices
	ADD COLUMN p2_device	text,
	ADD COLUMN p2_channel	text,
	ADD COLUMN p2_muc	text,
	ADD CONSTRAINT devices_p2_shape CHECK
	    ((p2_device IS NULL AND p2_channel IS NULL AND p2_muc IS NULL) OR
	     (p2_device IS NOT NULL AND p2_channel IS NOT NULL AND
	      (p2_channel = '') = (p2_muc IS NULL)));

ALTER TABLE devices DROP CONSTRAINT devices_owner_provider_token_key;
CREATE UNIQUE INDEX devices_owner_provider_token_key
	ON devices (owner, provider, token) WHERE p2_device IS NULL;
CREATE UNIQUE INDEX devices_p2_key
	ON devices (provider, p2_device, p2_channel) WHERE p2_device IS NOT NULL;

COMMENT ON COLUMN devices.p2_device IS
    'p2 registrations only (NULL otherwise): the device fingerprint, lower-case hex SHA-1 of the owner''s bare JID, a NUL byte and the device''s android-id (Conversations CryptoHelper.getAccountFingerprint); sent as data.account in every FCM push.';
COMMENT ON COLUMN devices.p2_channel IS
    'p2 registrations only: '''' for the account''s own registration, else the channel fingerprint (SHA-1 of the group chat''s bare JID, a NUL byte and the android-id), sent as data.channel.';
COMMENT ON COLUMN devices.p2_muc IS
    'p2 channel registrations only: the group chat''s bare JID, whose service may publish to the node besides the owner''s server.';
