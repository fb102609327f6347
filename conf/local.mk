# conf/: sample configuration and the systemd unit.
dist_doc_DATA = conf/xpushd.conf.sample
