#!/bin/sh
# Generates the throwaway keys and certificates of the APNs tests into DIR
# (test-only: made fresh on every run, never committed).
#
#	ca.pem ca.key		the test CA (the mock trusts it for clients)
#	server.pem server.key	the mock's certificate: 127.0.0.1, localhost
#	client.pem client.key	a valid client certificate and its key
#	client-combined.pem	both in one file
#	client-enc.key		the key encrypted with "secret"
#	client.p12		PKCS#12 of it, password "secret"
#	client-legacy.p12	the same with RC2/3DES, as old Keychains export
#	expired.pem expired.key	a client certificate that expired in 2021
#	expired.p12		the same as PKCS#12, password "secret"
#	other-client.pem/.key	signed by another CA: the mock refuses it
#	AuthKey.p8 AuthKey.pub	an EC P-256 token key (PKCS#8) and its public
#	rsa.key			an RSA key: not acceptable for tokens
set -eu
dir=${1:?usage: apns_certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
exec 3>/dev/null

ossl() { openssl "$@" 2>&3; }

ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout ca.key -out ca.pem -days 30 -subj "/CN=xpushd test CA"
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout other-ca.key -out other-ca.pem -days 30 \
	-subj "/CN=xpushd other CA"

cat > server.ext <<EOF
subjectAltName = IP:127.0.0.1, DNS:localhost
extendedKeyUsage = serverAuth
EOF
ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout server.key -out server.csr -subj "/CN=localhost"
ossl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
	-out server.pem -days 30 -extfile server.ext

cat > client.ext <<EOF
extendedKeyUsage = clientAuth
EOF
ossl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr \
	-subj "/UID=com.example.app/CN=Apple Push Services: com.example.app"
ossl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
	-out client.pem -days 30 -extfile client.ext
cat client.pem client.key > client-combined.pem
ossl pkey -in client.key -aes256 -passout pass:secret -out client-enc.key
ossl pkcs12 -export -in client.pem -inkey client.key -passout pass:secret \
	-out client.p12
ossl pkcs12 -export -legacy -in client.pem -inkey client.key \
	-passout pass:secret -out client-legacy.p12 || true

ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout other-client.key -out other-client.csr -subj "/CN=other"
ossl x509 -req -in other-client.csr -CA other-ca.pem -CAkey other-ca.key \
	-CAcreateserial -out other-client.pem -days 30 -extfile client.ext
cat other-client.pem other-client.key > other-client-combined.pem

# An expired certificate needs dates in the past: openssl ca takes them.
mkdir -p ca.db
: > ca.db/index.txt
echo 1000 > ca.db/serial
cat > ca.cnf <<EOF
[ ca ]
default_ca = test
[ test ]
dir = .
database = ca.db/index.txt
serial = ca.db/serial
new_certs_dir = ca.db
certificate = ca.pem
private_key = ca.key
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[ any ]
commonName = supplied
EOF
ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout expired.key -out expired.csr -subj "/CN=expired"
ossl ca -batch -config ca.cnf -in expired.csr -out expired.pem \
	-startdate 20200101000000Z -enddate 20210101000000Z -notext
ossl pkcs12 -export -in expired.pem -inkey expired.key \
	-passout pass:secret -out expired.p12

ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out AuthKey.p8
ossl pkey -in AuthKey.p8 -pubout -out AuthKey.pub
ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key
