/*
 * badmod.so: modules the loader must refuse, one per build (test/local.mk):
 *
 *	BADMOD_ABI=n	a module built against provider ABI n
 *	BADMOD_NOSEND	a module of the right ABI without send()
 *	BADMOD_NOSYM	a shared object without the xpushd_provider symbol
 */
#include <stddef.h>

#include "plugins/provider.h"

#ifdef BADMOD_NOSYM
const int not_a_provider = 1;
#else
static void *
badmod_create(const struct xp_host *host, const void *block, const char *id,
    char **error_r)
{
	return (void *)host;
}

#ifndef BADMOD_NOSEND
static int
badmod_send(void *self, const struct xp_push *p, xp_sent_cb *cb, void *arg)
{
	return -1;
}
#endif

static void
badmod_destroy(void *self)
{
}

const struct xp_provider xpushd_provider = {
#ifdef BADMOD_ABI
	.abi = BADMOD_ABI,
#else
	.abi = XP_PROVIDER_ABI,
#endif
	.name = "badmod",
	.create = badmod_create,
#ifndef BADMOD_NOSEND
	.send = badmod_send,
#endif
	.destroy = badmod_destroy,
};
#endif
