-- 002-cert-warnings: what the certificate watch told the admins, so that
-- every process and every restart warns once per certificate, level and
-- cert-warning-repeat (core/certwatch.c claims a row before it sends).

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
