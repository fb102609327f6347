/*
 * Statistics for the whole daemon: counters and gauges shown by the
 * get-statistics command, GET /metrics and the SIGUSR1 log line.
 */
#ifndef XP_STATS_H
#define XP_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include "plugins/provider.h"

#define STATS_VALUE_SIZE	21	/* a 64-bit integer in decimal, NUL */
#define STATS_LOG_LINE		1024	/* bytes of one SIGUSR1 log line */

enum stat_id {
	STAT_PUBLISH_RECEIVED,		/* pubsub publishes received */
	STAT_PUBLISH_OK,		/* answered with a result */
	STAT_PUBLISH_NOT_FOUND,		/* unknown node */
	STAT_PUBLISH_FORBIDDEN,		/* wrong domain or secret */
	STAT_PUBLISH_BAD_REQUEST,	/* malformed publish */
	STAT_PUBLISH_WAIT,		/* answered with a wait error */
	STAT_PUBLISH_FAILED,		/* answered with another error */
	STAT_PUSH_COALESCED,		/* absorbed by throttling */
	STAT_PUSH_RETRIED,		/* provider retries */
	STAT_REGISTRATIONS_REMOVED,	/* invalid tokens, account removals */
	STAT_REGISTER,			/* register-device completed */
	STAT_UNREGISTER,		/* unregister-device completed */
	STAT_COMMANDS,			/* ad-hoc commands completed */
	STAT_MAX
};

/* What became of a registration whose token the provider called dead. */
enum stats_dead {
	STATS_DEAD_DELETED,		/* the registration was deleted */
	STATS_DEAD_VOIP_CLEARED,	/* only its VoIP token was cleared */
	STATS_DEAD_HELD,		/* kept: the deletion guard held it */
	STATS_DEAD_UNSTORED,		/* a registration-less node (fpush):
					   nothing to delete, server told */
	STATS_DEAD_MAX
};

/*
 * Distinct reasons counted per provider and kind, so that a provider that
 * makes up reasons cannot grow /metrics without bound: the rest are
 * counted under STATS_REASON_OTHER.  A reason is cut to STATS_REASON_LEN
 * bytes of printable ASCII.
 */
#define STATS_REASONS_MAX	16
#define STATS_REASON_LEN	48
#define STATS_REASON_OTHER	"other"

struct stats_reason {
	char		 reason[STATS_REASON_LEN + 1];
	uint64_t	 n;
};

struct stats_provider {
	char		*id;
	/* [kind][0..nreasons): by reason; [kind][STATS_REASONS_MAX]: other */
	struct stats_reason dead[STATS_DEAD_MAX][STATS_REASONS_MAX + 1];
	size_t		 ndead[STATS_DEAD_MAX];
	uint64_t	 outcomes[XP_AUTH_FAILED + 1];
	uint64_t	 latency_count;
	double		 latency_sum;		/* seconds */
	uint64_t	 latency_buckets[12];	/* see stats_latency_bounds */
	struct stats_provider *next;
};

extern const double stats_latency_bounds[12];	/* seconds, upper bounds */

/*
 * One process-wide figure.  stats_figures() hands out the uptime, the
 * notifications in flight and then every counter, in that order.  The
 * SIGUSR1 line writes name=value; /metrics writes
 * xpushd_<name, '-' as '_'>[_<unit>][_total for a counter].
 */
struct stats_figure {
	const char	*name;		/* "uptime", "publishes-received" */
	const char	*unit;		/* "seconds", or NULL */
	const char	*help;		/* one line for /metrics */
	bool		 counter;	/* else a gauge */
	char		 value[STATS_VALUE_SIZE];	/* in decimal */
};
typedef void stats_figure_cb(void *arg, const struct stats_figure *);

void		 stats_inc(enum stat_id);
uint64_t	 stats_get(enum stat_id);
const char	*stats_name(enum stat_id);
void		 stats_figures(stats_figure_cb *, void *arg);
void		 stats_in_flight(int delta);
long		 stats_in_flight_now(void);
void		 stats_provider_outcome(const char *id, enum xp_outcome,
		    double seconds);
/* A dead token of provider id: what became of it, and the reason. */
void		 stats_dead_token(const char *id, enum stats_dead,
		    const char *reason);
const struct stats_provider *stats_providers(void);
const char	*stats_outcome_name(enum xp_outcome);
void		 stats_log(void);
void		 stats_free(void);

#endif
