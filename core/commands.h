/*
 * The ad-hoc commands of the Tigase Push Component and xpushd's own:
 * register-device, unregister-device, set-apns-certificate,
 * get-statistics, list-devices, delete-devices.
 */
#ifndef XP_COMMANDS_H
#define XP_COMMANDS_H

struct store;

void	commands_init(struct store *);

#endif
