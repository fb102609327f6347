/*
 * Dropping root (see core/priv.h).  The order is OpenSMTPD's
 * (smtpd.c, ca.c): supplementary groups first, then the group, then the
 * user, because after setuid() the group calls are no longer allowed.
 * setresgid/setresuid set the real, effective and saved ids alike, so no
 * saved id is left to switch back to; the check afterwards proves it.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "core/log.h"
#include "core/priv.h"

static void
priv_ids(const char *user, const char *group, uid_t *uid_r, gid_t *gid_r)
{
	struct passwd *pw;
	struct group *gr;

	errno = 0;
	if ((pw = getpwnam(user)) == NULL)
		fatalx("user '%s' (the `user` key): %s", user, errno != 0 ?
		    strerror(errno) : "no such user");
	*uid_r = pw->pw_uid;
	*gid_r = pw->pw_gid;
	if (group == NULL || *group == '\0')
		return;
	errno = 0;
	if ((gr = getgrnam(group)) == NULL)
		fatalx("group '%s' (the `group` key): %s", group, errno != 0 ?
		    strerror(errno) : "no such group");
	*gid_r = gr->gr_gid;
}

void
priv_drop(const struct xp_conf *conf)
{
	const char *user = conf_str(conf, NULL, "user");
	const char *group = conf_str(conf, NULL, "group");
	uid_t uid;
	gid_t gid;

	if (user == NULL || *user == '\0') {
		if (geteuid() == 0)
			log_warnx("running as root: set the `user` key to the "
			    "user xpushd should run as once it has started");
		return;
	}
	priv_ids(user, group, &uid, &gid);
	if (geteuid() != 0) {
		if (geteuid() != uid)
			log_warnx("the `user` key ('%s') is ignored: xpushd "
			    "was not started as root and runs as uid %lu",
			    user, (unsigned long)geteuid());
		return;
	}
	if (setgroups(1, &gid) == -1)
		fatal("setgroups");
	if (setresgid(gid, gid, gid) == -1)
		fatal("setresgid %lu", (unsigned long)gid);
	if (setresuid(uid, uid, uid) == -1)
		fatal("setresuid %lu", (unsigned long)uid);
	if (uid != 0 && (setuid(0) != -1 || seteuid(0) != -1))
		fatalx("dropped root for user '%s' but could regain it", user);
	if (gid != 0 && uid != 0 && (setgid(0) != -1 || setegid(0) != -1))
		fatalx("dropped root for user '%s' but could regain group 0",
		    user);
	log_info("running as user %s (uid %lu, gid %lu)", user,
	    (unsigned long)uid, (unsigned long)gid);
}
