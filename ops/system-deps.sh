#!/usr/bin/env bash
# Install the system packages the project needs when they are missing.
#   ops/system-deps.sh run    redis-server
#   ops/system-deps.sh test   redis-server, PostgreSQL (storage tests), and for the drills
#                             (ops/drill): iproute2 and iptables (partitions in network
#                             namespaces), stress-ng (a CPU hog on every core); MariaDB
#                             (the storage tests on MySQL); chromium and chromium-driver (the
#                             console's browser tests, driven by Playwright: no browser download)
#   ops/system-deps.sh assets nodejs and npm (the console's pinned npm packages, at build time)
# Installs with apt-get only when running as root; otherwise says what to install.
set -euo pipefail
purpose=${1:-run}
need=()
if [ "$purpose" = assets ]; then
  command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
else
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
fi
if [ "$purpose" = test ]; then
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
  command -v ip >/dev/null 2>&1 || need+=(iproute2)
  command -v iptables >/dev/null 2>&1 || need+=(iptables)
  command -v stress-ng >/dev/null 2>&1 || need+=(stress-ng)
  [ -x /usr/bin/chromium ] || need+=(chromium chromium-driver)
fi
if [ "$purpose" = test ] && ! command -v mariadbd >/dev/null 2>&1 && ! [ -x /usr/sbin/mariadbd ]; then
  need+=(mariadb-server)
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "missing system packages: ${need[*]} (install them, e.g. apt-get install ${need[*]})" >&2
  exit 1
fi
echo "installing ${need[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
