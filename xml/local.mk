# xml/: a pure library (no I/O, no libevent): stream parser, tree, JID, forms.
noinst_LIBRARIES += xml/libxpxml.a
xml_libxpxml_a_SOURCES = \
	xml/mem.c xml/mem.h \
	xml/buf.c xml/buf.h \
	xml/node.c xml/node.h xml/node_priv.h \
	xml/stream.c xml/stream.h \
	xml/jid.c xml/jid.h \
	xml/form.c xml/form.h
