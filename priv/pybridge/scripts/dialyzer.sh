#!/usr/bin/env bash
# Runs Dialyzer on the PyBridge runtime without dialyxir (no hex here).
# The PLT (erts, kernel, stdlib, elixir, logger, and mix for the pybridge.*
# Mix tasks) takes ~50 s to build, so it is
# cached under <repo>/.cache/dialyzer/, keyed by the OTP, ERTS and Elixir
# versions; the build goes to a temporary file first so an interrupted build
# never leaves a broken PLT behind.
# Usage: scripts/dialyzer.sh            (MIX_ENV defaults to dev)
set -euo pipefail
project_dir="$(cd "$(dirname "$0")/.." && pwd)"
repo_root="$(cd "$project_dir/../.." && pwd)"
cd "$project_dir"

export MIX_ENV="${MIX_ENV:-dev}"
elixir_lib="${ELIXIR_LIB:-$(elixir -e 'IO.write(:code.lib_dir(:elixir) |> Path.dirname())')}"
export ERL_LIBS="$elixir_lib${ERL_LIBS:+:$ERL_LIBS}"

otp="$(erl -noshell -eval 'io:format("~s-~s", [erlang:system_info(otp_release), erlang:system_info(version)]), halt().')"
ex="$(elixir -e 'IO.write(System.version())')"
cache_dir="$repo_root/.cache/dialyzer"
plt="$cache_dir/pybridge-otp$otp-elixir$ex-mix.plt"

if [ ! -f "$plt" ]; then
  mkdir -p "$cache_dir"
  echo "==> building PLT $plt (once, about a minute)"
  tmp="$plt.tmp.$$"
  trap 'rm -f "$tmp"' EXIT
  dialyzer --build_plt --output_plt "$tmp" --apps erts kernel stdlib elixir logger mix >/dev/null || {
    status=$?
    # dialyzer exits 2 when it only found warnings in the libraries themselves
    [ "$status" = 2 ] || exit "$status"
  }
  mv "$tmp" "$plt"
  trap - EXIT
fi

mix compile --warnings-as-errors >/dev/null
ebin="_build/$MIX_ENV/lib/pybridge/ebin"
exec dialyzer --no_check_plt --plts "$plt" -Werror_handling -Wunmatched_returns -Wno_improper_lists -r "$ebin"
