# tlscerts.sh: sourced; tls_certs DIR makes, with the openssl CLI, a test CA
# (ca.pem) and certificates signed by it, each NAME.pem with NAME.key:
#   server, server2  SAN DNS:localhost, IP:127.0.0.1, IP:::1; 365 days
#   client           SAN DNS:client.example.com (mutual TLS); 30 days
#   other            SAN DNS:other.example.com (another name); 30 days
#   expired          SAN DNS:localhost, IP:127.0.0.1; expired in 2020
# Throw-away keys made per run: none is ever committed.
tls_certs() {
	local d=$1
	(
	set -eu
	cd "$d"
	q() { "$@" >/dev/null 2>&1 || { echo "openssl failed: $*" >&2; exit 1; }; }
	key() { q openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
	sign() {
		local n=$1 san=$2 days=$3
		key "$n.key"
		q openssl req -new -key "$n.key" -subj "/CN=$n" -out "$n.csr"
		printf 'subjectAltName=%s\nbasicConstraints=CA:false\nextendedKeyUsage=serverAuth,clientAuth\n' \
		    "$san" >"$n.ext"
		q openssl x509 -req -in "$n.csr" -CA ca.pem -CAkey ca.key \
		    -CAcreateserial -days "$days" -extfile "$n.ext" -out "$n.pem"
	}
	key ca.key
	q openssl req -x509 -new -key ca.key -subj /CN=usher-test-ca -days 400 \
	    -out ca.pem -addext basicConstraints=critical,CA:true \
	    -addext keyUsage=critical,keyCertSign,cRLSign
	sign server 'DNS:localhost,IP:127.0.0.1,IP:::1' 365
	sign server2 'DNS:localhost,IP:127.0.0.1,IP:::1' 365
	sign client 'DNS:client.example.com' 30
	sign other 'DNS:other.example.com' 30
	# A past validity needs `openssl ca` (x509 -req has no start date
	# before OpenSSL 3.4).
	key expired.key
	q openssl req -new -key expired.key -subj /CN=expired -out expired.csr
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >expired.ext
	mkdir -p cadb
	: >cadb/index.txt
	echo 01 >cadb/serial
	cat >ca.cnf <<CNF
[ca]
default_ca = d
[d]
database = cadb/index.txt
serial = cadb/serial
new_certs_dir = cadb
certificate = ca.pem
private_key = ca.key
default_md = sha256
policy = p
[p]
commonName = supplied
CNF
	q openssl ca -batch -config ca.cnf -in expired.csr -out expired.pem \
	    -notext -startdate 20200101000000Z -enddate 20200102000000Z \
	    -extfile expired.ext
	)
}
