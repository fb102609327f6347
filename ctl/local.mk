# ctl/: xpushctl(8), the administration tool.  It links the daemon's core
# library: the configuration, migrations, store and certificate checks are
# the daemon's own code.
sbin_PROGRAMS += xpushctl
xpushctl_SOURCES = ctl/xpushctl.c ctl/ctl.h ctl/devices.c ctl/certs.c \
	ctl/live.c
xpushctl_LDADD = $(XP_CORE_LIBS)
