#!/bin/sh
# `make run`: initialise a local vault on first use, show how to use it,
# and run the service (`orgvault serve`) in the foreground until Ctrl-C.
# The data directory is ORGVAULT_DATA_DIR, or ./data beside the Makefile.
set -u
bin=$1
dir=${ORGVAULT_DATA_DIR:-$(pwd)/data}
if [ ! -e "$dir/orgvault.db" ]; then
	"$bin" --data-dir "$dir" init || exit $?
fi
"$bin" --data-dir "$dir" check || exit $?
cat <<MSG

The vault is ready in $dir (key file $dir/master.key: back it up).
orgvault serve now keeps every credential's token fresh (Ctrl-C stops it).
In another terminal, try:
  export ORGVAULT_DATA_DIR=$dir
  $bin org add acme --name "Acme Corp"
  printf '%s\n' 'the-client-secret' > secret.txt   # or use --secret-file -
  $bin cred put acme genesys --provider genesys --region us_east_1 \\
      --client-id 0a1b2c3d --secret-file secret.txt --scope "users:readonly"
  rm secret.txt
  $bin cred list
  $bin audit events
  $bin token acme genesys        # needs a reachable token endpoint
MSG
exec "$bin" --data-dir "$dir" serve
