#!/bin/sh
# `make run`: initialise a local vault on first use, show how to use it,
# and run the service (`orgvault serve`: refresh scheduler and admin API
# on 127.0.0.1) in the foreground until Ctrl-C.  The data directory is
# ORGVAULT_DATA_DIR, or ./data beside the Makefile; the API address is
# ORGVAULT_LISTEN, default 127.0.0.1:8477.
set -u
bin=$1
dir=${ORGVAULT_DATA_DIR:-$(pwd)/data}
listen=${ORGVAULT_LISTEN:-127.0.0.1:8477}
if [ ! -e "$dir/orgvault.db" ]; then
	"$bin" --data-dir "$dir" init || exit $?
fi
"$bin" --data-dir "$dir" check || exit $?
cat <<MSG

The vault is ready in $dir (key file $dir/master.key: back it up).
orgvault serve now keeps every credential's token fresh and answers the
admin API on http://$listen (Ctrl-C stops it).  In another terminal:

  export ORGVAULT_DATA_DIR=$dir
  # an org and a credential (secrets only from a file or stdin)
  $bin org add acme --name "Acme Corp"
  printf '%s\n' 'the-client-secret' > secret.txt
  $bin cred put acme genesys --provider genesys --region us_east_1 \\
      --client-id 0a1b2c3d --secret-file secret.txt --scope "users:readonly"
  rm secret.txt

  # the first API keys: shown once, only a keyed hash is stored
  ADMIN=\$($bin apikey create dashboard --role admin)
  TOKEN=\$($bin apikey create flows --role token --orgs acme)

  curl -s http://$listen/v1/health
  curl -s -H "Authorization: Bearer \$ADMIN" http://$listen/v1/credentials
  curl -s -H "Authorization: Bearer \$TOKEN" \\
      http://$listen/v1/orgs/acme/credentials/genesys/token
MSG
exec "$bin" --data-dir "$dir" serve --listen "$listen"
