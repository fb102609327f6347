-- xpushd database schema, version 3: the result of applying every file in
-- migrations/ in order.  It is here to be read; deployments create and
-- upgrade the schema with `xpushd --migrate -c FILE`, which applies the
-- numbered files in sql/migrations and records each in
-- xpushd_schema_version.  Loading this file into an empty database with
-- psql gives the same schema (test/integration/store_test.sh checks that),
-- including the version row.
--
-- Cache invalidation: triggers NOTIFY on two channels,
--   xpushd_devices       payload: the node of a device row that changed
--   xpushd_certificates  payload: the provider id of a certificate row
-- and '*' on TRUNCATE.  Every xpushd process LISTENs on both.

CREATE TABLE IF NOT EXISTS xpushd_schema_version (
	version		integer PRIMARY KEY,
	name		text NOT NULL,
	applied		timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE xpushd_schema_version IS
    'Schema migrations applied by xpushd --migrate, one row per sql/migrations file.';
COMMENT ON COLUMN xpushd_schema_version.version IS 'Number of the migration (the NNN of NNN-name.sql).';
COMMENT ON COLUMN xpushd_schema_version.name IS 'File name of the migration.';
COMMENT ON COLUMN xpushd_schema_version.applied IS 'When the migration was applied.';

CREATE TABLE devices (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	owner		text NOT NULL,
	provider	text NOT NULL,
	token		text NOT NULL,
	voip_token	text,
	node		text NOT NULL,
	secret		text NOT NULL,
	created		timestamptz NOT NULL DEFAULT now(),
	updated		timestamptz NOT NULL DEFAULT now(),
	last_push	timestamptz,
	last_error	timestamptz,
	last_error_text	text,
	p2_device	text,
	p2_channel	text,
	p2_muc		text,
	CONSTRAINT devices_node_key UNIQUE (node),
	CONSTRAINT devices_p2_shape CHECK
	    ((p2_device IS NULL AND p2_channel IS NULL AND p2_muc IS NULL) OR
	     (p2_device IS NOT NULL AND p2_channel IS NOT NULL AND
	      (p2_channel = '') = (p2_muc IS NULL)))
);
CREATE INDEX devices_provider_token_idx ON devices (provider, token);
-- The Tigase key (owner, provider, token) holds for rows outside p2; a p2
-- registration is keyed as p2 keys it: (service, device, channel), since
-- one device's account and channel registrations share one token.
CREATE UNIQUE INDEX devices_owner_provider_token_key
	ON devices (owner, provider, token) WHERE p2_device IS NULL;
CREATE UNIQUE INDEX devices_p2_key
	ON devices (provider, p2_device, p2_channel) WHERE p2_device IS NOT NULL;

COMMENT ON TABLE devices IS
    'One row per push registration (XEP-0357 enable via the register-device ad-hoc command). Deleting a row unregisters the device; running xpushd processes drop it from their caches through NOTIFY xpushd_devices.';
COMMENT ON COLUMN devices.id IS
    'Surrogate key, for admins only; xpushd addresses rows by node or by (owner, provider, token).';
COMMENT ON COLUMN devices.owner IS
    'Bare JID of the account that registered the device (localpart@domain).';
COMMENT ON COLUMN devices.provider IS
    'Provider id the client picked: the name of a push () block in the configuration, e.g. apns-binary-api or fcm-http-v1.';
COMMENT ON COLUMN devices.token IS
    'Device token issued by the push service (APNs device token, FCM registration token), stored verbatim.';
COMMENT ON COLUMN devices.voip_token IS
    'Optional second token (device-second-token, APNs PushKit/VoIP); NULL when the device registered none. Re-registering replaces it.';
COMMENT ON COLUMN devices.node IS
    'PubSub node handed to the client; the XMPP server publishes to it. At least 128 random bits, base64url.';
COMMENT ON COLUMN devices.secret IS
    'Publish secret handed to the client (publish-options secret). At least 128 random bits, base64url.';
COMMENT ON COLUMN devices.created IS 'When the device first registered.';
COMMENT ON COLUMN devices.updated IS 'When the device last registered or changed.';
COMMENT ON COLUMN devices.last_push IS 'When a push was last handed to the provider successfully; NULL if never.';
COMMENT ON COLUMN devices.last_error IS 'When the provider last refused or failed a push; NULL if never.';
COMMENT ON COLUMN devices.last_error_text IS 'The provider''s reason for the last error, as reported.';
COMMENT ON COLUMN devices.p2_device IS
    'p2 registrations only (NULL otherwise): the device fingerprint, lower-case hex SHA-1 of the owner''s bare JID, a NUL byte and the device''s android-id (Conversations CryptoHelper.getAccountFingerprint); sent as data.account in every FCM push.';
COMMENT ON COLUMN devices.p2_channel IS
    'p2 registrations only: '''' for the account''s own registration, else the channel fingerprint (SHA-1 of the group chat''s bare JID, a NUL byte and the android-id), sent as data.channel.';
COMMENT ON COLUMN devices.p2_muc IS
    'p2 channel registrations only: the group chat''s bare JID, whose service may publish to the node besides the owner''s server.';

CREATE TABLE certificates (
	provider	text PRIMARY KEY,
	pkcs12		bytea,
	password	text,
	cert_pem	text,
	key_pem		text,
	not_after	timestamptz,
	updated		timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT certificates_has_credentials CHECK
	    (pkcs12 IS NOT NULL OR (cert_pem IS NOT NULL AND key_pem IS NOT NULL))
);

COMMENT ON TABLE certificates IS
    'Client credentials for a provider (APNs certificate), one row per provider id. Set through the set-apns-certificate ad-hoc command or psql; running xpushd processes reload through NOTIFY xpushd_certificates.';
COMMENT ON COLUMN certificates.provider IS 'Provider id (name of the push () block) these credentials belong to.';
COMMENT ON COLUMN certificates.pkcs12 IS 'PKCS#12 bundle (certificate and private key), or NULL when PEM is used.';
COMMENT ON COLUMN certificates.password IS 'Password of the PKCS#12 bundle or of the encrypted PEM key; NULL for none.';
COMMENT ON COLUMN certificates.cert_pem IS 'PEM certificate chain, or NULL when PKCS#12 is used.';
COMMENT ON COLUMN certificates.key_pem IS 'PEM private key, or NULL when PKCS#12 is used.';
COMMENT ON COLUMN certificates.not_after IS 'Expiry of the certificate (notAfter), for the expiry warnings; NULL if unknown.';
COMMENT ON COLUMN certificates.updated IS 'When the credentials were last stored.';

-- Cache invalidation.  Channel xpushd_devices carries the node of a row
-- that appeared, changed or went away; channel xpushd_certificates carries
-- the provider id.  The payload '*' (TRUNCATE) means "drop everything".
-- Updates that touch only last_push/last_error/updated do not notify: they
-- happen on every push and caches do not rely on them.
CREATE FUNCTION xpushd_devices_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'TRUNCATE' THEN
		PERFORM pg_notify('xpushd_devices', '*');
		RETURN NULL;
	END IF;
	IF TG_OP IN ('UPDATE', 'DELETE') THEN
		PERFORM pg_notify('xpushd_devices', OLD.node);
	END IF;
	IF TG_OP = 'INSERT' OR
	    (TG_OP = 'UPDATE' AND NEW.node IS DISTINCT FROM OLD.node) THEN
		PERFORM pg_notify('xpushd_devices', NEW.node);
	END IF;
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION xpushd_devices_notify() IS
    'Trigger: NOTIFY xpushd_devices with the node of an inserted, changed or deleted device (''*'' on TRUNCATE).';

CREATE TRIGGER devices_notify
	AFTER INSERT OR DELETE ON devices
	FOR EACH ROW EXECUTE FUNCTION xpushd_devices_notify();
CREATE TRIGGER devices_notify_update
	AFTER UPDATE ON devices
	FOR EACH ROW
	WHEN (OLD.owner IS DISTINCT FROM NEW.owner OR
	    OLD.provider IS DISTINCT FROM NEW.provider OR
	    OLD.token IS DISTINCT FROM NEW.token OR
	    OLD.voip_token IS DISTINCT FROM NEW.voip_token OR
	    OLD.node IS DISTINCT FROM NEW.node OR
	    OLD.secret IS DISTINCT FROM NEW.secret)
	EXECUTE FUNCTION xpushd_devices_notify();
CREATE TRIGGER devices_notify_truncate
	AFTER TRUNCATE ON devices
	FOR EACH STATEMENT EXECUTE FUNCTION xpushd_devices_notify();

CREATE FUNCTION xpushd_certificates_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'TRUNCATE' THEN
		PERFORM pg_notify('xpushd_certificates', '*');
		RETURN NULL;
	END IF;
	IF TG_OP IN ('UPDATE', 'DELETE') THEN
		PERFORM pg_notify('xpushd_certificates', OLD.provider);
	END IF;
	IF TG_OP = 'INSERT' OR
	    (TG_OP = 'UPDATE' AND NEW.provider IS DISTINCT FROM OLD.provider) THEN
		PERFORM pg_notify('xpushd_certificates', NEW.provider);
	END IF;
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION xpushd_certificates_notify() IS
    'Trigger: NOTIFY xpushd_certificates with the provider id of a changed certificate row (''*'' on TRUNCATE).';

CREATE TRIGGER certificates_notify
	AFTER INSERT OR UPDATE OR DELETE ON certificates
	FOR EACH ROW EXECUTE FUNCTION xpushd_certificates_notify();
CREATE TRIGGER certificates_notify_truncate
	AFTER TRUNCATE ON certificates
	FOR EACH STATEMENT EXECUTE FUNCTION xpushd_certificates_notify();

CREATE TABLE cert_warnings (
	provider	text NOT NULL,
	certificate	text NOT NULL,
	level		text NOT NULL,
	sent_at		timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (provider, certificate, level)
);

COMMENT ON TABLE cert_warnings IS
    'Certificate-expiry warnings sent to the admins, one row per provider, certificate and level; a process sends a warning only when it inserts the row or moves sent_at forward by at least cert-warning-repeat seconds. Rows may be deleted at any time: the warning is then sent again.';
COMMENT ON COLUMN cert_warnings.provider IS 'Provider id (name of the push () block) whose certificate the warning is about.';
COMMENT ON COLUMN cert_warnings.certificate IS 'The certificate: sha256: and the hex SHA-256 of its DER encoding, or error: and the reason when it cannot be read.';
COMMENT ON COLUMN cert_warnings.level IS 'expiring, expired or broken.';
COMMENT ON COLUMN cert_warnings.sent_at IS 'When the warning was last sent.';

INSERT INTO xpushd_schema_version (version, name) VALUES (1, '001-initial.sql');
INSERT INTO xpushd_schema_version (version, name) VALUES (2, '002-cert-warnings.sql');
INSERT INTO xpushd_schema_version (version, name) VALUES (3, '003-p2.sql');
