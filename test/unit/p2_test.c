/*
 * p2: the device fingerprint, against values computed the way
 * Conversations computes it (CryptoHelper.getAccountFingerprint ->
 * getFingerprint(jid.toString() + "\00" + androidId): MessageDigest
 * SHA-1 over the UTF-8 bytes, bytesToHex with a lower-case table) and
 * p2 does (Utils.combineAndHash: DigestUtils.sha1Hex of the parts joined
 * with "\00").  The expected values were printed by that Java code run
 * with OpenJDK 17 on these inputs.
 */
#include "config.h"

#include <string.h>

#include "core/p2.h"
#include "core/xpushd.h"
#include "test/lib/tap.h"

struct xpushd *xpd;		/* p2.c's commands read it; unused here */

int
main(void)
{
	char fp[P2_FINGERPRINT_LEN + 1], other[P2_FINGERPRINT_LEN + 1];

	p2_fingerprint("alice@example.org", "a1b2c3d4e5f60718", fp);
	is_str(fp, "a177f1f0cf9b5546ac96c8070355eb5921a7e1d2",
	    "account fingerprint as Conversations computes it");
	p2_fingerprint("j\xc3\xbcrgen@example.org", "9774d56d682e549c", fp);
	is_str(fp, "18ead591bd34627052ffa196947639b0148065f6",
	    "a JID with a non-ASCII local part: its UTF-8 bytes");
	p2_fingerprint("room@conference.example.org", "a1b2c3d4e5f60718", fp);
	is_str(fp, "83263b0052de1f99f631b704b64bf0d7d5fc53d6",
	    "channel fingerprint (the group chat's JID)");
	is_int(strlen(fp), P2_FINGERPRINT_LEN, "40 hex digits");
	/* The NUL separates: moving a byte across it changes the hash. */
	p2_fingerprint("alice@example.orga", "1b2c3d4e5f60718", other);
	p2_fingerprint("alice@example.org", "a1b2c3d4e5f60718", fp);
	ok(strcmp(fp, other) != 0, "the NUL byte separates JID and id");
	return tap_done();
}
