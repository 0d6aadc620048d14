#!/usr/bin/env bash
# Installs everything the tests need; idempotent, safe to run on every test run.
# (The compat-suite owner extends it: kcat, Python venv, kafkajs, Maven jars, Kafka.)
set -euo pipefail
cd "$(dirname "$0")/.."
go mod download
