#!/usr/bin/env bash
# Writes .env beside docker-compose.yml with generated passwords, once: docker compose refuses to start
# without POSTGRES_PASSWORD, RABBITMQ_PASSWORD and FLOWER_BASIC_AUTH (no default passwords). An existing .env is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f .env ]; then
  echo ".env exists; left as it is"
  exit 0
fi
umask 077
{
  echo "POSTGRES_PASSWORD=$(openssl rand -hex 24)"
  echo "RABBITMQ_PASSWORD=$(openssl rand -hex 24)"
  echo "FLOWER_BASIC_AUTH=admin:$(openssl rand -hex 16)"
  echo "# Publish the API and DICOM ports on every interface only on purpose (docs/security.md):"
  echo "# BIND_ADDRESS=0.0.0.0"
} > .env
echo "wrote .env (mode 0600) with generated passwords"
