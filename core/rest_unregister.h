/*
 * Tigase's unregister-device handler on the HTTPS listener: POST
 * /rest/push/unregister-device/{jid} and /unregister-device/{jid}.
 */
#ifndef XP_REST_UNREGISTER_H
#define XP_REST_UNREGISTER_H

struct store;

/* Mounts the handler on the listener; call before rest_init(). */
void	rest_unregister_init(struct store *);

#endif
