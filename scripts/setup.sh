#!/usr/bin/env bash
# Installs what listctl needs to build, test and run on Debian, as root or
# with sudo. Idempotent and quick when everything is already there.
set -euo pipefail

APT_PACKAGES=(
    pkg-config libpq-dev libcurl4-openssl-dev libssl-dev libxml2-dev
    libcmark-gfm-dev libcmark-gfm-extensions-dev cmark-gfm
    postgresql postgresql-contrib postfix swaks hyperfine openssl spin gcc time
    chromium chromium-driver wrk spamassassin
)
PIP_PACKAGES=(aiosmtpd dkimpy pynacl "moto[server]" botocore selenium feedparser)

if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi

missing=()
for package in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    # postfix asks questions on install; it is here only for smtp-sink/smtp-source and never started.
    echo "postfix postfix/main_mailer_type select No configuration" | "${SUDO[@]}" debconf-set-selections
    "${SUDO[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-upgrade "${missing[@]}" >/dev/null
fi

if ! { python3 -c "import aiosmtpd, dkim, nacl, moto, flask, flask_cors, botocore, selenium, feedparser" 2>/dev/null && command -v moto_server >/dev/null; }; then
    echo "setup: installing Python test tools: ${PIP_PACKAGES[*]}" >&2
    python3 -m pip install -q --disable-pip-version-check "${PIP_PACKAGES[@]}"
fi

if ! command -v swift >/dev/null; then
    if [ -x /opt/swift/usr/bin/swift ]; then
        echo "setup: swift is at /opt/swift/usr/bin; add it to PATH" >&2
    else
        echo "setup: no Swift toolchain found (need Swift 6.1 or later on PATH)" >&2
        exit 1
    fi
fi
