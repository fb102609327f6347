# conf/: sample configuration and the systemd unit.
dist_doc_DATA = conf/xpushd.conf.sample

# The unit carries the paths of this build.  Packagers may install it
# elsewhere with  make install systemdsystemunitdir=/lib/systemd/system
systemdsystemunitdir = $(prefix)/lib/systemd/system
nodist_systemdsystemunit_DATA = conf/xpushd.service
EXTRA_DIST += conf/xpushd.service.in
CLEANFILES += conf/xpushd.service

conf/xpushd.service: $(srcdir)/conf/xpushd.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) conf && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' \
	    -e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	    $(srcdir)/conf/xpushd.service.in >$@.tmp && mv $@.tmp $@

# Prometheus alerting rules and a Grafana dashboard for what /metrics
# exports (test/integration/alerting_test.sh checks both against it).
alertingdir = $(pkgdatadir)/alerting
dist_alerting_DATA = conf/alerting/xpushd.rules.yml \
	conf/alerting/xpushd-dashboard.json
