/*
 * The p2 dialect: the ad-hoc commands of p2, the App Server of
 * Conversations and its forks (blabber.im, Quicksy Android, monocles,
 * Cheogram): register-push-fcm, register-push-apns, unregister-push-fcm,
 * unregister-push-apns.  The operator names the provider block behind each
 * service in the top-level p2 () block; a service without one is not
 * offered.  Publishes to p2 nodes are the registry's p2 source
 * (core/registry.c), pushes carry XP_PROFILE_P2.
 */
#ifndef XP_P2_H
#define XP_P2_H

#include <stddef.h>

#include "core/options.h"

struct store;

#define P2_FINGERPRINT_LEN	40	/* hex digits of a SHA-1 */
#define P2_DEVICE_ID_MAX	256	/* bytes of an android-id/device-id */

void	p2_init(struct store *);
/*
 * The p2 block: each provider it names must be a block of push ().
 * -1 with *error_r (malloc'd) when not.
 */
int	p2_check_conf(const struct xp_conf *, char **error_r);
/*
 * The fingerprint of (jid, device_id) into out (P2_FINGERPRINT_LEN + 1
 * bytes): lower-case hex SHA-1 of jid, a NUL byte and device_id, as
 * Conversations (CryptoHelper.getAccountFingerprint) and p2
 * (Utils.combineAndHash) compute it.
 */
void	p2_fingerprint(const char *jid, const char *device_id, char *out);

#endif
