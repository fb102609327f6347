/*
 * Ad-hoc commands (XEP-0050) with data forms (XEP-0004): a registry of
 * commands, sessions bound to the requester's full JID and counted per
 * account, and the execute/complete/cancel flow.  Every command here has one stage: its
 * form, then its result.
 */
#ifndef XP_ADHOC_H
#define XP_ADHOC_H

#include <stdbool.h>
#include "core/options.h"
#include "core/router.h"
#include "xml/form.h"

#define NS_COMMANDS	"http://jabber.org/protocol/commands"


/* One execution of a command; answer it with exactly one adhoc_* call. */
struct adhoc_ctx {
	const char		*node;
	const char		*requester;	/* full JID */
	const char		*requester_bare;
	bool			 admin;
	const struct form	*form;		/* the submitted form */
	void			*cmd_arg;
	struct router_req	*req;
	char			*sessionid;
};

/* Builds the form of the first stage into the <x/> given. */
typedef void adhoc_form_fn(void *arg, const struct adhoc_ctx *,
    struct xml_node *x);
/* Handles the submitted form; may answer later (asynchronously). */
typedef void adhoc_submit_fn(void *arg, struct adhoc_ctx *);

struct adhoc_command {
	const char	*node;
	const char	*name;
	bool		 admin_only;
	adhoc_form_fn	*form;
	adhoc_submit_fn	*submit;
	void		*arg;
};

void	adhoc_init(struct event_base *, const struct xp_conf *);
void	adhoc_reconfigure(const struct xp_conf *);
void	adhoc_shutdown(void);
void	adhoc_register(const struct adhoc_command *);
/*
 * A command served only while offered(c->arg) says so (the dialects whose
 * provider blocks are configurable): one that is not is neither listed
 * nor run, and its requester hears cancel/item-not-found saying that it
 * is not offered.
 */
void	adhoc_register_offered(const struct adhoc_command *,
	    bool (*offered)(void *arg));
/* Whether the bare JID is in `admins` (core/admins.c keeps the list). */
bool	adhoc_is_admin(const char *bare_jid);

/*
 * Answers.  complete: status completed with an optional result form
 * (built with adhoc_result_form) and an optional info note.  refuse: the
 * input cannot be accepted, an IQ error modify/bad-request/bad-payload
 * (XEP-0050 §4.6) whose text is one sentence that starts with the field
 * ("device-token: an APNs device token is ...").  error: any other IQ
 * error (wait/internal-server-error when the database is down, so the
 * client tries again; cancel/item-not-found ...).
 */
struct xml_node *adhoc_result_form(struct adhoc_ctx *);
void	adhoc_complete(struct adhoc_ctx **, const char *note);
void	adhoc_refuse(struct adhoc_ctx **, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	adhoc_error(struct adhoc_ctx **, const char *type, const char *cond,
	    const char *text);

#endif
