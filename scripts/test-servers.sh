#!/usr/bin/env bash
# Mail test servers on 127.0.0.1 for the transport tests.
#
#   eval "$(bash scripts/test-servers.sh start)"   # prints `export VAR=...` lines
#   bash scripts/test-servers.sh stop
#
# `start` runs, each on a free port: the aiosmtpd servers of
# Tests/tools/smtp_server.py (plain, STARTTLS, STARTTLS+AUTH, smtps, a
# misbehaving one, one that resets mid-DATA and one that resets on accept), moto_server (SES v2) and Tests/tools/provider_mock.py
# (Postmark, Mailgun, SendGrid, Resend). It makes a self-signed certificate,
# logs to $LISTCTL_TEST_WORK/mail-servers/*.log, records PIDs there for
# `stop`, and returns once every port accepts connections.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}

if [ -z "${LISTCTL_TEST_WORK:-}" ]; then
    if [ "${1:-}" = stop ]; then echo "test-servers: LISTCTL_TEST_WORK is not set; nothing to stop" >&2; exit 0; fi
    LISTCTL_TEST_WORK=$(mktemp -d /tmp/listctl-servers.XXXXXX)
    echo "export LISTCTL_TEST_WORK=$LISTCTL_TEST_WORK"
fi
DIR=$LISTCTL_TEST_WORK/mail-servers

log() { echo "test-servers: $*" >&2; }

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_port() {  # name port
    for _ in $(seq 1 150); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    log "$1 did not open port $2; see $DIR/$1.log"
    tail -20 "$DIR/$1.log" >&2 || true
    return 1
}

wait_file() {  # name file
    for _ in $(seq 1 150); do
        if [ -s "$2" ]; then return 0; fi
        sleep 0.1
    done
    log "$1 did not start; see $DIR/$1.log"
    tail -20 "$DIR/$1.log" >&2 || true
    return 1
}

start_bg() {  # name command...
    local name=$1; shift
    nohup "$@" >"$DIR/$name.log" 2>&1 </dev/null &
    echo $! >"$DIR/$name.pid"
}

stop() {
    [ -d "$DIR" ] || return 0
    for pidfile in "$DIR"/*.pid; do
        [ -f "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$pidfile"
    done
}

start() {
    mkdir -p "$DIR/tls" "$DIR/smtp" "$DIR/http"
    stop
    for module in aiosmtpd dkim nacl boto3; do
        "$PYTHON" -c "import $module" 2>/dev/null || log "python module $module is missing (pip install aiosmtpd dkimpy pynacl boto3 moto[server]); tests that need it will fail"
    done

    # A self-signed certificate for 127.0.0.1 and localhost; tests trust it with ?cafile=.
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
        -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
        -keyout "$DIR/tls/key.pem" -out "$DIR/tls/cert.pem" 2>"$DIR/openssl.log"

    local user=listctl-test password='p@ss:w/rd%1'
    local token=mock-token-$RANDOM$RANDOM
    rm -f "$DIR/smtp.ports" "$DIR/http.port"
    start_bg smtp "$PYTHON" "$ROOT/Tests/tools/smtp_server.py" --work "$DIR/smtp" \
        --cert "$DIR/tls/cert.pem" --key "$DIR/tls/key.pem" --user "$user" --password "$password" \
        --ports-file "$DIR/smtp.ports"
    start_bg http "$PYTHON" "$ROOT/Tests/tools/provider_mock.py" --port-file "$DIR/http.port" \
        --record "$DIR/http" --token "$token" --domain mg.example.org
    local moto_port
    moto_port=$(free_port)
    start_bg moto moto_server -H 127.0.0.1 -p "$moto_port"

    wait_file smtp "$DIR/smtp.ports"
    wait_file http "$DIR/http.port"
    while read -r mode port; do wait_port smtp "$port"; done <"$DIR/smtp.ports"
    local http_port
    http_port=$(cat "$DIR/http.port")
    wait_port http "$http_port"
    wait_port moto "$moto_port"

    # SES only sends from verified identities, in moto as in AWS.
    "$PYTHON" - "$moto_port" >>"$DIR/moto.log" 2>&1 <<'EOF'
import sys, boto3
ses = boto3.client("ses", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}",
                   aws_access_key_id="AKIDLISTCTLTEST", aws_secret_access_key="listctl-test-secret")
ses.verify_domain_identity(Domain="example.org")
EOF

    port_of() { awk -v m="$1" '$1 == m { print $2 }' "$DIR/smtp.ports"; }
    cat <<EOF
export LISTCTL_TEST_SMTP_PLAIN=127.0.0.1:$(port_of plain)
export LISTCTL_TEST_SMTP_STARTTLS=127.0.0.1:$(port_of starttls)
export LISTCTL_TEST_SMTP_AUTH=127.0.0.1:$(port_of auth)
export LISTCTL_TEST_SMTPS=127.0.0.1:$(port_of smtps)
export LISTCTL_TEST_SMTP_MISBEHAVE=127.0.0.1:$(port_of misbehave)
export LISTCTL_TEST_SMTP_MIDDATA=127.0.0.1:$(port_of middata)
export LISTCTL_TEST_SMTP_HANGUP=127.0.0.1:$(port_of hangup)
export LISTCTL_TEST_SMTP_USER=$user
export LISTCTL_TEST_SMTP_PASSWORD='$password'
export LISTCTL_TEST_SMTP_CAFILE=$DIR/tls/cert.pem
export LISTCTL_TEST_SMTP_SPOOL=$DIR/smtp
export LISTCTL_TEST_SES_ENDPOINT=http://127.0.0.1:$moto_port
export LISTCTL_TEST_HTTP_MOCK=http://127.0.0.1:$http_port
export LISTCTL_TEST_HTTP_MOCK_TOKEN=$token
export LISTCTL_TEST_HTTP_MOCK_RECORD=$DIR/http
EOF
    log "SMTP $(tr '\n' ' ' <"$DIR/smtp.ports"), moto $moto_port, provider mock $http_port; logs in $DIR"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
