# man/: xpushd(8), xpushd.conf(5), xpushd-provider(7), in mdoc.
# test/integration/man_test.sh lints them and checks xpushd.conf(5) against the
# code.
dist_man_MANS += man/xpushd.8 man/xpushd.conf.5 man/xpushd-provider.7
# xpushctl(8): the administration tool (ctl/).
dist_man_MANS += man/xpushctl.8
