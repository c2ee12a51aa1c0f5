#!/usr/bin/env bash
# Back up the Familienkarte database: a pg_dump archive (custom format) and a note of what it belongs to.
#
#   FK_DATABASE_URL=postgresql://USER:PASSWORD@HOST:5432/familienkarte scripts/backup.sh [FOLDER]
#
# Writes FOLDER/familienkarte-<UTC time>/ (FOLDER: ./backups by default) with
#   database.dump      everything in the database: cards, credentials' status lists, the issuer keys (encrypted
#                      with FK_SECRET_KEY), partners, redemptions, statistics, audit log, the outbox
#   backup-info.txt    when, from where, the schema version, and a fingerprint of FK_SECRET_KEY (when set)
# and prints the folder's path on the last line. The archive is read back (pg_restore --list) before the folder
# gets its final name, so a folder without ".partial" at the end is complete.
#
# FK_SECRET_KEY is NOT in the backup, on purpose: it decrypts the issuer's private keys and the staff's TOTP
# secrets that are in the dump. Keep it apart from the dumps (a password manager or secret store) and back it
# up there once; without it a restored database cannot sign new credentials (see docs/operations.md).
#
# Needs pg_dump and pg_restore of the server's major version or newer (docs/operations.md shows how to run this
# script in the postgres image of docker-compose.yml). A consistent snapshot: the service may keep running.
set -euo pipefail

fail() {
    echo "backup: $*" >&2
    exit 2
}

[[ -n "${FK_DATABASE_URL:-}" ]] || fail "set FK_DATABASE_URL to the PostgreSQL database to back up"
# SQLAlchemy's driver suffix (postgresql+psycopg://) means nothing to libpq.
url="$(printf '%s' "$FK_DATABASE_URL" | sed -E 's#^postgres(ql)?(\+[A-Za-z0-9_]+)?://#postgresql://#')"
[[ "$url" == postgresql://* ]] || fail "FK_DATABASE_URL is no postgresql:// URL (SQLite: stop the service and copy the file)"
command -v pg_dump >/dev/null || fail "pg_dump is not installed (Debian: apt-get install postgresql-client)"

umask 077
target="${1:-backups}"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
folder="$target/familienkarte-$stamp"
partial="$folder.partial"
mkdir -p "$partial"

# The URL without its password, for the note.
shown="$(printf '%s' "$url" | sed -E 's#//([^:/@]+):[^@]*@#//\1:***@#')"

pg_dump --format=custom --compress=6 --dbname="$url" --file="$partial/database.dump"
pg_restore --list "$partial/database.dump" >/dev/null || fail "the archive $partial/database.dump cannot be read back"

revision="$(psql --no-psqlrc --tuples-only --no-align --dbname="$url" \
    --command='SELECT version_num FROM alembic_version' 2>/dev/null | tr '\n' ' ' || true)"
server="$(psql --no-psqlrc --tuples-only --no-align --dbname="$url" --command='SHOW server_version' 2>/dev/null || true)"
fingerprint="(FK_SECRET_KEY was not set when this backup was made)"
if [[ -n "${FK_SECRET_KEY:-}" ]]; then
    fingerprint="$(printf 'familienkarte secret fingerprint\n%s' "$FK_SECRET_KEY" | sha256sum | cut -c1-16)"
fi

cat >"$partial/backup-info.txt" <<EOF
created: $stamp
database: $shown
server_version: $server
schema_revision: ${revision% }
secret_fingerprint: $fingerprint
dump_sha256: $(sha256sum "$partial/database.dump" | cut -d' ' -f1)
dump_bytes: $(wc -c <"$partial/database.dump" | tr -d ' ')
EOF

mv "$partial" "$folder"
echo "backup: the database is in $folder/database.dump; keep FK_SECRET_KEY apart from it (see backup-info.txt)." >&2
echo "$folder"
