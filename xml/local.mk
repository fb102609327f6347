# xml/: a pure library (no I/O, no libevent): stream parser, tree, JID, forms.
noinst_LIBRARIES += xml/libxpxml.a
xml_libxpxml_a_SOURCES =
