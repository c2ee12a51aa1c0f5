#!/usr/bin/env bash
# Restore a backup made by scripts/backup.sh into an EMPTY PostgreSQL database.
#
#   createdb familienkarte_restored      # or CREATE DATABASE ...; owned by the service's database user
#   FK_DATABASE_URL=postgresql://USER:PASSWORD@HOST:5432/familienkarte_restored \
#   FK_SECRET_KEY=... scripts/restore.sh backups/familienkarte-20260701T020000Z
#
# Refuses a database that has tables (nothing is overwritten), and a FK_SECRET_KEY whose fingerprint differs
# from the one in backup-info.txt (the restored issuer keys and TOTP secrets could not be read with it); give
# --ignore-secret to restore anyway, e.g. to read the data without signing anything. Without FK_SECRET_KEY the
# check is skipped with a warning. The restore runs in one transaction: it succeeds entirely or leaves the
# database empty. Objects are owned by the user of FK_DATABASE_URL (the dump's owners are not restored).
#
# Afterwards: familienkarte db upgrade (when the code is newer than the backup), then start the service on
# this database. Needs pg_restore of the dump's major version or newer.
set -euo pipefail

fail() {
    echo "restore: $*" >&2
    exit 2
}

ignore_secret=false
backup=""
for argument in "$@"; do
    case "$argument" in
    --ignore-secret) ignore_secret=true ;;
    -h | --help)
        sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    -*) fail "unknown option $argument" ;;
    *) backup="$argument" ;;
    esac
done
[[ -n "$backup" ]] || fail "name the backup folder (or its database.dump): scripts/restore.sh FOLDER"
[[ -n "${FK_DATABASE_URL:-}" ]] || fail "set FK_DATABASE_URL to the empty database to restore into"
url="$(printf '%s' "$FK_DATABASE_URL" | sed -E 's#^postgres(ql)?(\+[A-Za-z0-9_]+)?://#postgresql://#')"
[[ "$url" == postgresql://* ]] || fail "FK_DATABASE_URL is no postgresql:// URL"
command -v pg_restore >/dev/null || fail "pg_restore is not installed (Debian: apt-get install postgresql-client)"

if [[ -d "$backup" ]]; then
    dump="$backup/database.dump"
    info="$backup/backup-info.txt"
else
    dump="$backup"
    info="$(dirname "$backup")/backup-info.txt"
fi
[[ -f "$dump" ]] || fail "there is no $dump"
[[ "$dump" != *.partial/* ]] || fail "$dump belongs to a backup that did not finish"

if [[ -f "$info" ]]; then
    expected="$(sed -n 's/^dump_sha256: //p' "$info")"
    if [[ -n "$expected" && "$(sha256sum "$dump" | cut -d' ' -f1)" != "$expected" ]]; then
        fail "$dump is not the file the backup wrote (its SHA-256 differs from backup-info.txt)"
    fi
    recorded="$(sed -n 's/^secret_fingerprint: //p' "$info")"
    if [[ -z "${FK_SECRET_KEY:-}" ]]; then
        echo "restore: warning: FK_SECRET_KEY is not set, so it is not checked against the backup." >&2
    elif [[ "$recorded" =~ ^[0-9a-f]{16}$ ]]; then
        actual="$(printf 'familienkarte secret fingerprint\n%s' "$FK_SECRET_KEY" | sha256sum | cut -c1-16)"
        if [[ "$actual" != "$recorded" ]] && ! $ignore_secret; then
            fail "FK_SECRET_KEY is not the secret of this backup (fingerprint $actual, backup $recorded): with it the \
restored issuer keys cannot sign. Set the secret of the backup, or give --ignore-secret."
        fi
    fi
fi

tables="$(psql --no-psqlrc --tuples-only --no-align --dbname="$url" \
    --command="SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")" ||
    fail "cannot connect to the database of FK_DATABASE_URL (create it first: createdb NAME)"
[[ "$tables" == "0" ]] || fail "the database already has $tables tables; restore into a new, empty database"

pg_restore --no-owner --no-privileges --exit-on-error --single-transaction --dbname="$url" "$dump"

revision="$(psql --no-psqlrc --tuples-only --no-align --dbname="$url" --command='SELECT version_num FROM alembic_version')"
echo "restore: done; the database is at schema revision $revision. Next: familienkarte db upgrade, then start the service." >&2
