# tlscerts.sh: sourced by the TLS routing tests. make_certs DIR writes a
# throw-away CA and certificates signed by it (EC P-256, two days): usher
# (IP 127.0.0.1, ::1, DNS usher.test), pbx (IP 127.0.0.1, DNS pbx.test),
# other (DNS other.test only: a PBX presenting a certificate for another
# name). Keys are generated here, for the test's life: none is committed.
make_certs() {
	local d=$1 n san
	mkdir -p "$d"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -keyout "$d/ca.key" -out "$d/ca.pem" -days 2 \
	    -subj "/CN=usher test CA" 2>/dev/null || return 1
	for n in usher pbx other; do
		case $n in
		usher) san="IP:127.0.0.1,IP:::1,DNS:usher.test" ;;
		pbx) san="IP:127.0.0.1,DNS:pbx.test" ;;
		other) san="DNS:other.test" ;;
		esac
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		    -nodes -keyout "$d/$n.key" -out "$d/$n.csr" \
		    -subj "/CN=$n" 2>/dev/null || return 1
		printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n' \
		    "$san" >"$d/$n.ext"
		openssl x509 -req -in "$d/$n.csr" -CA "$d/ca.pem" \
		    -CAkey "$d/ca.key" -CAcreateserial -days 2 \
		    -extfile "$d/$n.ext" -out "$d/$n.pem" 2>/dev/null ||
		    return 1
		chmod 600 "$d/$n.key"
	done
}
