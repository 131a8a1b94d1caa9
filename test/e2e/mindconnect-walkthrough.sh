#!/usr/bin/env bash
# The public MindConnect MQTT how-to "register a CA certificate and verify it", step by step, against
# trustgate. Run it in an empty directory (it writes keys and certificates there):
#
#   export TENANT=acme BASE_URL=http://localhost:8080
#   export TOKEN=$(npx trustgate token --tenant $TENANT)
#   bash -euo pipefail test/e2e/mindconnect-walkthrough.sh
#
# Its files and CA name (acme-openssl-ca.*, "acme OpenSSL CA") are the README's, distinct from the
# CLI walkthrough's (acme-ca.*, "acme CA"), so both can run in one directory.
# Needs openssl, awk, sed and curl. CA_KEY_TYPE=ec makes an EC P-256 CA instead of RSA 2048.
# test/e2e/mindconnect-walkthrough.test.ts runs this very file.
set -euo pipefail
: "${TENANT:?set TENANT}" "${TOKEN:?set TOKEN}" "${BASE_URL:?set BASE_URL}"

# 1. The tenant's CA: a key and a self-signed certificate.
if [ "${CA_KEY_TYPE:-rsa}" = "ec" ]; then
  openssl ecparam -genkey -name prime256v1 -out $TENANT-openssl-ca.key
else
  openssl genrsa -out $TENANT-openssl-ca.key 2048
fi
openssl req -x509 -new -nodes -key $TENANT-openssl-ca.key -sha256 -days 1825 -out $TENANT-openssl-ca.pem -subj "/C=DE/ST=BW/O=Acme/OU=IT/CN=$TENANT OpenSSL CA"

# 2. Upload it. awk escapes the PEM's newlines as \n for the JSON body.
CERT=$(awk -v ORS='\\n' '1' $TENANT-openssl-ca.pem)
UPLOAD=$(curl -sS -X POST "$BASE_URL/api/mindconnectmqtt/v3/caCertificates" -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" -d "{\"name\": \"$TENANT OpenSSL CA\", \"description\": \"CA of $TENANT, made with OpenSSL\", \"caCertificate\": \"$CERT\"}")
echo "upload: $UPLOAD"
ID=$(echo "$UPLOAD" | sed -n 's/.*"id":"\([0-9a-f]\{24\}\)".*/\1/p')
if [ -z "$ID" ]; then echo "the upload did not answer a CA certificate id" >&2; exit 1; fi
echo "id: $ID"

# 3. Its registration code, once on the documented path and once on the how-to sample's shorthand.
CODE_RESPONSE=$(curl -sS "$BASE_URL/api/mindconnectmqtt/v3/caCertificates/$ID/registrationCode" -H "Authorization: Bearer $TOKEN")
echo "registrationCode: $CODE_RESPONSE"
SHORTHAND_CODE_RESPONSE=$(curl -sS "$BASE_URL/api/mindconnectmqtt/v3/$ID/registrationCode" -H "Authorization: Bearer $TOKEN")
echo "registrationCode (shorthand path): $SHORTHAND_CODE_RESPONSE"
REGISTRATION_CODE=$(echo "$CODE_RESPONSE" | sed -n 's/.*"registrationCode":"\([^"]*\)".*/\1/p')
if [ -z "$REGISTRATION_CODE" ]; then echo "no registration code in the answer" >&2; exit 1; fi
if [ "$SHORTHAND_CODE_RESPONSE" != "$CODE_RESPONSE" ]; then echo "the shorthand path answered differently" >&2; exit 1; fi

# 4. The verification certificate: CN = registration code, signed by the CA's key (proof of possession).
openssl genrsa -out verificationCert.key 2048
openssl req -new -key verificationCert.key -out verificationCert.csr -subj "/CN=$REGISTRATION_CODE"
openssl x509 -req -in verificationCert.csr -CA $TENANT-openssl-ca.pem -CAkey $TENANT-openssl-ca.key -CAcreateserial -out verificationCert.pem -days 7 -sha256

# 5. Verify.
VERIFICATION_CERT=$(awk -v ORS='\\n' '1' verificationCert.pem)
VERIFY=$(curl -sS -X POST "$BASE_URL/api/mindconnectmqtt/v3/caCertificates/$ID/verify" -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" -d "{\"verificationCertificate\": \"$VERIFICATION_CERT\"}")
echo "verify: $VERIFY"
